"""One implementation of a port each: AWS (S3, DynamoDB, Bedrock, OpenSearch Serverless, with the boto3
clients and their one retry policy in aws_clients/aws_retry) and local (MiniLM and hashing embedders,
the rule-based extractor, the embedded SQLite index). They import only ports, model and the extraction
vocabulary; bootstrap builds them from settings and hands them plain values."""
