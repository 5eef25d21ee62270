# The REST API's stage. Chalice creates the stage through the deprecated stage_name of its
# deployment (aws/chalice#1838); the override clears that and this explicit stage takes over, with
# access logs, execution logs, X-Ray and throttling. The API itself (routes, the Cognito authorizer,
# CORS preflights, gateway responses) is the swagger in its body: infra/tools/api_swagger.py.

resource "aws_cloudwatch_log_group" "api_access" {
  name              = local.api_access_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.quarry.arn
}

# API Gateway creates this group itself on first use, without retention or encryption: create it
# first.
resource "aws_cloudwatch_log_group" "api_execution" {
  name              = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.rest_api.id}/${local.api_stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.quarry.arn
}

resource "aws_api_gateway_stage" "api" {
  # checkov:skip=CKV_AWS_120:Responses are per-request document state and search results; a cache would serve stale status.
  # checkov:skip=CKV2_AWS_51:Clients are API users on the internet, not a backend that could check an API Gateway client certificate.
  # checkov:skip=CKV2_AWS_29:A WAF web ACL is optional (var.api_waf_web_acl_arn); the stage is throttled by method settings either way.
  # checkov:skip=CKV2_AWS_77:The web ACL, when one is attached, is the operator's (var.api_waf_web_acl_arn): its rules are managed where it is defined.
  rest_api_id          = aws_api_gateway_rest_api.rest_api.id
  deployment_id        = aws_api_gateway_deployment.rest_api.id
  stage_name           = local.api_stage_name
  xray_tracing_enabled = var.lambda_tracing_mode == "Active"

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      resourcePath       = "$context.resourcePath"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      integrationStatus  = "$context.integration.status"
    })
  }

  depends_on = [aws_api_gateway_account.logging, aws_cloudwatch_log_group.api_execution]
}

# "*/*" is every method of the stage, the preflights the gateway answers itself included: the
# stage's limits hold for all tenants together, in front of the app's per-tenant limits.
resource "aws_api_gateway_method_settings" "all" {
  # checkov:skip=CKV_AWS_225:Caching is off on purpose: responses are per-request document state and search results.
  rest_api_id = aws_api_gateway_rest_api.rest_api.id
  stage_name  = aws_api_gateway_stage.api.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = var.api_logging_level
    data_trace_enabled     = false
    caching_enabled        = false
    throttling_rate_limit  = var.api_throttling_rate_limit
    throttling_burst_limit = var.api_throttling_burst_limit
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  count        = var.api_waf_web_acl_arn == null ? 0 : 1
  resource_arn = aws_api_gateway_stage.api.arn
  web_acl_arn  = var.api_waf_web_acl_arn
}

# API Gateway writes logs through one role per account and Region. Set manage_api_gateway_account
# to false where another stack already manages it.
resource "aws_iam_role" "api_gateway_logging" {
  count              = var.manage_api_gateway_account ? 1 : 0
  name               = "${local.name}-apigateway-logs"
  description        = "API Gateway account-level role for pushing logs to CloudWatch Logs"
  assume_role_policy = data.aws_iam_policy_document.api_gateway_assume.json
}

data "aws_iam_policy_document" "api_gateway_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

# The AWS managed policy: the account-level role serves every API in the Region (each with its own
# log groups), so it cannot be narrowed to Quarry's.
resource "aws_iam_role_policy_attachment" "api_gateway_logging" {
  count      = var.manage_api_gateway_account ? 1 : 0
  role       = aws_iam_role.api_gateway_logging[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "logging" {
  count               = var.manage_api_gateway_account ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.api_gateway_logging[0].arn
  depends_on          = [aws_iam_role_policy_attachment.api_gateway_logging]
}
