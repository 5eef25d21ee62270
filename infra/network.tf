# Optional: run both functions in your VPC's private subnets and reach S3, DynamoDB, SQS, Bedrock
# and the vector collection through VPC endpoints (enable_vpc_endpoints = true, with vpc_id,
# vpc_subnet_ids and vpc_route_table_ids). Off by default: the functions then use AWS's public
# endpoints, always over TLS with signed requests.

locals {
  use_vpc = var.enable_vpc_endpoints
  # Handed to the functions' vpc_config by the override: both empty means "not in a VPC".
  lambda_subnet_ids         = local.use_vpc ? var.vpc_subnet_ids : []
  lambda_security_group_ids = local.use_vpc ? [aws_security_group.lambda[0].id] : []

  interface_endpoints = local.use_vpc ? {
    sqs             = "com.amazonaws.${local.region}.sqs"
    bedrock_runtime = "com.amazonaws.${local.region}.bedrock-runtime"
  } : {}
  gateway_endpoints = local.use_vpc ? {
    s3       = "com.amazonaws.${local.region}.s3"
    dynamodb = "com.amazonaws.${local.region}.dynamodb"
  } : {}
}

data "aws_vpc" "selected" {
  count = local.use_vpc ? 1 : 0
  id    = var.vpc_id
}

resource "aws_security_group" "lambda" {
  # checkov:skip=CKV2_AWS_5:Attached to both functions through local.lambda_security_group_ids in the override's vpc_config, which checkov's graph does not follow.
  count       = local.use_vpc ? 1 : 0
  name        = "${local.name}-functions"
  description = "Quarry ${local.chalice_stage} functions: HTTPS out to the VPC endpoints only"
  vpc_id      = var.vpc_id

  lifecycle {
    precondition {
      condition     = var.vpc_id != null && length(var.vpc_subnet_ids) > 0 && length(var.vpc_route_table_ids) > 0
      error_message = "enable_vpc_endpoints needs vpc_id, vpc_subnet_ids and vpc_route_table_ids."
    }
  }
}

resource "aws_security_group" "endpoints" {
  count       = local.use_vpc ? 1 : 0
  name        = "${local.name}-endpoints"
  description = "Quarry ${local.chalice_stage} interface endpoints: HTTPS from the Quarry functions"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_vpc" {
  count             = local.use_vpc ? 1 : 0
  security_group_id = aws_security_group.lambda[0].id
  description       = "HTTPS to interface endpoints in the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = data.aws_vpc.selected[0].cidr_block
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_gateways" {
  for_each          = local.use_vpc ? toset(["s3", "dynamodb"]) : toset([])
  security_group_id = aws_security_group.lambda[0].id
  description       = "HTTPS to the ${each.key} gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.gateway[each.key].prefix_list_id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_lambda" {
  count                        = local.use_vpc ? 1 : 0
  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the Quarry functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.lambda[0].id
}

resource "aws_vpc_endpoint" "gateway" {
  for_each          = local.gateway_endpoints
  vpc_id            = var.vpc_id
  service_name      = each.value
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.vpc_route_table_ids
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.interface_endpoints
  vpc_id              = var.vpc_id
  service_name        = each.value
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.vpc_subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true
}

resource "aws_opensearchserverless_vpc_endpoint" "quarry" {
  count              = local.use_vpc ? 1 : 0
  name               = "${local.name}-aoss"
  vpc_id             = var.vpc_id
  subnet_ids         = var.vpc_subnet_ids
  security_group_ids = [aws_security_group.endpoints[0].id]
}
