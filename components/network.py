"""Network: the VPC that MWAA and FARGATE extracts run in (two private subnets, one NAT)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import Naming


@dataclass(frozen=True)
class NetworkArgs:
    naming: Naming
    cidr: str  # a private /16 to /24; four subnets are carved from it


class Network(pulumi.ComponentResource):
    """A VPC with two private subnets in two AZs (MWAA needs two), egress through one NAT."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    mwaa_security_group_id: pulumi.Output[str]
    etl_security_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hybrid:platform:Network", name, None, opts)
        naming, cidr = args.naming, args.cidr
        child = pulumi.ResourceOptions(parent=self)
        tags = naming.tags()
        zones = aws.get_availability_zones_output(state="available").names
        blocks = [str(b) for b in ipaddress.IPv4Network(cidr).subnets(prefixlen_diff=2)]

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": naming.shared("vpc")},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={**tags, "Name": naming.shared("igw")}, opts=child
        )
        public = aws.ec2.Subnet(
            f"{name}-public-a",
            vpc_id=vpc.id,
            cidr_block=blocks[2],
            availability_zone=zones[0],
            tags={**tags, "Name": naming.shared("public-a")},
            opts=child,
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags={**tags, "Name": naming.shared("public")},
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-a", subnet_id=public.id, route_table_id=public_routes.id, opts=child
        )
        nat_ip = aws.ec2.Eip(
            f"{name}-nat", domain="vpc", tags={**tags, "Name": naming.shared("nat")}, opts=child
        )
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            allocation_id=nat_ip.id,
            subnet_id=public.id,
            tags={**tags, "Name": naming.shared("nat")},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
        )
        private_routes = aws.ec2.RouteTable(
            f"{name}-private",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
            tags={**tags, "Name": naming.shared("private")},
            opts=child,
        )
        self.private_subnet_ids = []
        for index, suffix in enumerate(("a", "b")):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{suffix}",
                vpc_id=vpc.id,
                cidr_block=blocks[index],
                availability_zone=zones[index],
                tags={**tags, "Name": naming.shared(f"private-{suffix}")},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{suffix}",
                subnet_id=subnet.id,
                route_table_id=private_routes.id,
                opts=child,
            )
            self.private_subnet_ids.append(subnet.id)

        everything_out = [
            aws.ec2.SecurityGroupEgressArgs(
                protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"]
            )
        ]
        mwaa_sg = aws.ec2.SecurityGroup(
            f"{name}-mwaa",
            vpc_id=vpc.id,
            description="MWAA: its own components talk to each other",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(protocol="-1", from_port=0, to_port=0, self=True)
            ],
            egress=everything_out,
            tags={**tags, "Name": naming.shared("mwaa")},
            opts=child,
        )
        etl_sg = aws.ec2.SecurityGroup(
            f"{name}-etl",
            vpc_id=vpc.id,
            description="FARGATE extracts: no inbound; outbound to databases, S3 and AWS APIs",
            egress=everything_out,
            tags={**tags, "Name": naming.shared("etl")},
            opts=child,
        )
        self.vpc_id = vpc.id
        self.mwaa_security_group_id = mwaa_sg.id
        self.etl_security_group_id = etl_sg.id
        self.register_outputs(
            {
                "vpcId": vpc.id,
                "privateSubnetIds": self.private_subnet_ids,
                "mwaaSecurityGroupId": mwaa_sg.id,
                "etlSecurityGroupId": etl_sg.id,
            }
        )
