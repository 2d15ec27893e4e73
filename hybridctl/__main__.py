import sys

from hybridctl.cli import main

sys.exit(main())
