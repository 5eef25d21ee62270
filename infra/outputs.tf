output "api_url" {
  description = "Base URL of the Quarry API (the stage's invoke URL)."
  value       = aws_api_gateway_stage.api.invoke_url
}

output "raw_bucket_name" {
  description = "Raw-input bucket: uploads land here and start ingestion."
  value       = aws_s3_bucket.raw.id
}

output "processed_bucket_name" {
  description = "Processed-output bucket: one JSON per ingested document."
  value       = aws_s3_bucket.processed.id
}

output "documents_table_name" {
  description = "DynamoDB documents catalog."
  value       = aws_dynamodb_table.documents.name
}

output "ingest_queue_url" {
  description = "Ingestion queue URL."
  value       = aws_sqs_queue.ingest.url
}

output "dead_letter_queue_url" {
  description = "Dead-letter queue URL (inspect and redrive from here)."
  value       = aws_sqs_queue.dead_letter.url
}

output "collection_endpoint" {
  description = "OpenSearch Serverless collection endpoint (QUARRY_OPENSEARCH_ENDPOINT)."
  value       = aws_opensearchserverless_collection.vectors.collection_endpoint
}

output "kms_key_arn" {
  description = "The customer managed key encrypting Quarry's data."
  value       = aws_kms_key.quarry.arn
}

output "ingest_role_arn" {
  description = "IAM role of the ingest worker."
  value       = aws_iam_role.ingest.arn
}

output "api_role_arn" {
  description = "IAM role of the API function."
  value       = aws_iam_role.api.arn
}

output "user_pool_id" {
  description = "Cognito user pool of the API's users (null with auth_issuer): aws cognito-idp admin-create-user --user-pool-id ..."
  value       = local.create_user_pool ? aws_cognito_user_pool.quarry[0].id : null
}

output "user_pool_client_id" {
  description = "App client id users sign in with (aws cognito-idp initiate-auth --client-id ...), the tokens' audience."
  value       = local.auth_audience
}

output "auth_issuer" {
  description = "Issuer of the tokens the API accepts (QUARRY_AUTH_ISSUER)."
  value       = local.auth_issuer

  # Checked here because a variable's validation cannot name another variable before Terraform 1.9.
  precondition {
    condition     = var.auth_issuer == null || var.auth_audience != null
    error_message = "auth_audience (the app client id of auth_issuer) is required with auth_issuer."
  }
  precondition {
    condition     = var.auth_issuer != null || (var.auth_audience == null && var.cognito_user_pool_arn == null)
    error_message = "auth_audience and cognito_user_pool_arn describe an existing issuer: set auth_issuer with them, or none of them to create a user pool."
  }
  # Without OAuth scopes on its methods, the gateway's Cognito authorizer accepts ID tokens only.
  precondition {
    condition     = !local.gateway_checks_tokens || var.auth_token_use == "id"
    error_message = "auth_token_use must be id while the gateway's Cognito authorizer checks tokens (it refuses access tokens on methods without OAuth scopes)."
  }
}

output "auth_region" {
  description = "Region of the user pool (aws cognito-idp --region ...)."
  value       = local.region
}

output "sweep_queue_url" {
  description = "Delayed sweep queue URL."
  value       = aws_sqs_queue.sweep.url
}

output "sweep_dead_letter_queue_url" {
  description = "Dead-letter queue of failed sweeps (inspect and redrive from here)."
  value       = aws_sqs_queue.sweep_dead_letter.url
}
