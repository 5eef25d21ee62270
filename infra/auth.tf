# Sign-in. By default a Cognito user pool and an app client issue the ID tokens the API accepts; set
# auth_issuer (and auth_audience) to bring an existing issuer instead. Tokens are checked twice:
# by the app on every route but GET /health and GET /openapi.json (chalicelib/api/auth.py, the same
# code as in `make local`), and before that by the REST API's native Cognito authorizer on the same
# routes, so unauthenticated traffic is refused without running (or paying for) any Lambda. The
# authorizer is in the REST API's swagger (infra/tools/api_swagger.py); REST APIs have no generic
# JWT authorizer, so with a non-Cognito issuer the app's check is the only one.

locals {
  create_user_pool = var.auth_issuer == null

  auth_issuer   = local.create_user_pool ? "https://${aws_cognito_user_pool.quarry[0].endpoint}" : var.auth_issuer
  auth_audience = local.create_user_pool ? aws_cognito_user_pool_client.quarry[0].id : var.auth_audience
  auth_jwks_url = coalesce(var.auth_jwks_url, "${trimsuffix(local.auth_issuer, "/")}/.well-known/jwks.json")

  # Decided from variables only, so the plan knows which swagger it deploys.
  gateway_checks_tokens = local.create_user_pool || var.cognito_user_pool_arn != null
  gateway_user_pool_arn = (
    local.create_user_pool ? aws_cognito_user_pool.quarry[0].arn
    : var.cognito_user_pool_arn != null ? var.cognito_user_pool_arn : ""
  )

  # Picks one of the gateway's swaggers in chalice_facts.tf.json (infra/tools/assemble.py:swagger_variant).
  api_swagger_variant = "${local.gateway_checks_tokens ? "cognito" : "no-authorizer"}/${var.web_origin == "" ? "no-cors" : "cors"}"

  # Users may read their tenant but never write it: only an administrator assigns one
  # (admin-create-user, admin-update-user-attributes). An empty write list would mean "every
  # attribute" to Cognito, so the list is spelled out.
  user_pool_client_read_attributes  = ["email", "email_verified", "custom:tenant"]
  user_pool_client_write_attributes = ["email"]
}

resource "aws_cognito_user_pool" "quarry" {
  count               = local.create_user_pool ? 1 : 0
  name                = "${local.name}-users"
  deletion_protection = var.user_pool_deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration   = "OPTIONAL"
  user_pool_tier      = var.user_pool_advanced_security_mode == "OFF" ? "ESSENTIALS" : "PLUS"

  username_configuration {
    case_sensitive = false
  }

  # Tenants are assigned by administrators, so nobody signs themselves up.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = var.user_pool_password_minimum_length
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 7
  }

  software_token_mfa_configuration {
    enabled = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  auto_verified_attributes = ["email"]

  # The tenant claim of the ID token (custom:tenant). Custom attributes cannot be changed or removed
  # once the pool exists.
  schema {
    name                     = "tenant"
    attribute_data_type      = "String"
    mutable                  = true
    required                 = false
    developer_only_attribute = false
    string_attribute_constraints {
      min_length = 1
      max_length = 64
    }
  }

  user_pool_add_ons {
    advanced_security_mode = var.user_pool_advanced_security_mode
  }
}

resource "aws_cognito_user_pool_client" "quarry" {
  count           = local.create_user_pool ? 1 : 0
  name            = "${local.name}-api"
  user_pool_id    = aws_cognito_user_pool.quarry[0].id
  generate_secret = false # a public client: the CLI, scripts and the web page cannot keep a secret

  explicit_auth_flows = [
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_SRP_AUTH",
  ]
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true
  auth_session_validity         = 3

  id_token_validity      = var.id_token_validity_minutes
  access_token_validity  = var.id_token_validity_minutes
  refresh_token_validity = var.refresh_token_validity_days
  token_validity_units {
    id_token      = "minutes"
    access_token  = "minutes"
    refresh_token = "days"
  }

  read_attributes  = local.user_pool_client_read_attributes
  write_attributes = local.user_pool_client_write_attributes
}
