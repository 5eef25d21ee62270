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
