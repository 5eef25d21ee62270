# The vector index: an OpenSearch Serverless VECTORSEARCH collection. AOSS needs an encryption
# policy before the collection can be created, a network policy to be reachable, and a data-access
# policy naming who may touch indexes and documents: here only the three Lambda roles.

locals {
  collection_name = local.name
}

resource "aws_opensearchserverless_security_policy" "encryption" {
  name        = "${local.name}-enc"
  type        = "encryption"
  description = "Quarry ${local.chalice_stage}: vectors encrypted with the Quarry key"
  policy = jsonencode({
    Rules = [{
      ResourceType = "collection"
      Resource     = ["collection/${local.collection_name}"]
    }]
    AWSOwnedKey = false
    KmsARN      = aws_kms_key.quarry.arn
  })
}

resource "aws_opensearchserverless_security_policy" "network" {
  name        = "${local.name}-net"
  type        = "network"
  description = "Quarry ${local.chalice_stage}: collection endpoint reachable ${var.enable_vpc_endpoints ? "only through the Quarry VPC endpoint" : "over the internet (IAM-signed requests only)"}"
  policy = jsonencode([merge(
    {
      Rules = [{
        ResourceType = "collection"
        Resource     = ["collection/${local.collection_name}"]
      }]
      AllowFromPublic = !var.enable_vpc_endpoints
    },
    var.enable_vpc_endpoints ? { SourceVPCEs = aws_opensearchserverless_vpc_endpoint.quarry[*].id } : {},
  )])
}

locals {
  # The alias QUARRY_OPENSEARCH_INDEX and the concrete indexes behind it, <alias>-<model>-<time>
  # (chalicelib/adapters/opensearch/aliases.py): a re-embed creates a new one and moves the alias.
  chunk_indexes = "index/${local.collection_name}/${var.opensearch_index_name}*"
}

resource "aws_opensearchserverless_access_policy" "data" {
  name        = "${local.name}-data"
  type        = "data"
  description = "Quarry ${local.chalice_stage}: the ingest worker writes, the API reads and deletes, the reaper deletes"
  policy = jsonencode(concat([
    {
      Description = "ingest worker: create the index, replace and delete a document's chunks"
      Principal   = [aws_iam_role.ingest.arn]
      Rules = [{
        ResourceType = "index"
        Resource     = [local.chunk_indexes]
        Permission = [
          "aoss:CreateIndex",
          "aoss:DescribeIndex",
          "aoss:UpdateIndex",
          "aoss:ReadDocument",
          "aoss:WriteDocument",
        ]
      }]
    },
    {
      Description = "delayed sweep: find and delete a document's leftover chunks"
      Principal   = [aws_iam_role.sweep.arn]
      Rules = [{
        ResourceType = "index"
        Resource     = ["index/${local.collection_name}/${var.opensearch_index_name}"]
        Permission = [
          "aoss:DescribeIndex",
          "aoss:ReadDocument",
          "aoss:WriteDocument",
        ]
      }]
    },
    {
      Description = "API: search, and delete a document's chunks (DELETE /documents/{id})"
      Principal   = [aws_iam_role.api.arn]
      Rules = [{
        ResourceType = "index"
        Resource     = [local.chunk_indexes]
        Permission = [
          "aoss:DescribeIndex",
          "aoss:ReadDocument",
          "aoss:WriteDocument",
        ]
      }]
    },
    {
      Description = "reaper: delete the chunks a worker that died on its last delivery wrote"
      Principal   = [aws_iam_role.reaper.arn]
      Rules = [{
        ResourceType = "index"
        Resource     = [local.chunk_indexes]
        Permission = [
          "aoss:DescribeIndex",
          "aoss:ReadDocument",
          "aoss:WriteDocument",
        ]
      }]
    },
    ], [for principals in [var.reembed_principals] : {
      Description = "operators: re-embed (make a new chunk index, copy into it, move the alias)"
      Principal   = principals
      Rules = [{
        ResourceType = "index"
        Resource     = [local.chunk_indexes]
        Permission = [
          "aoss:CreateIndex",
          "aoss:DescribeIndex",
          "aoss:UpdateIndex",
          "aoss:ReadDocument",
          "aoss:WriteDocument",
        ]
      }]
    } if length(principals) > 0]))
}

resource "aws_opensearchserverless_collection" "vectors" {
  name             = local.collection_name
  type             = "VECTORSEARCH"
  description      = "Quarry ${local.chalice_stage}: document chunk embeddings"
  standby_replicas = var.opensearch_standby_replicas
  depends_on = [
    aws_opensearchserverless_security_policy.encryption,
    aws_opensearchserverless_security_policy.network,
  ]
}
