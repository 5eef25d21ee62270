"""The VectorIndex on Amazon OpenSearch Serverless (AOSS): k-NN and BM25 over one index.

- `index.py`: OpenSearchVectorIndex, the port's writes and searches, and why AOSS shapes them so.
- `mapping.py`: the index's mapping, a chunk's stored document and the hit read back, filter clauses,
  metadata pairs, the k-NN score as a cosine, and keeping each document's newest generation.
- `aliases.py`: the live index behind the alias, and a re-embed's atomic switch of the alias.
- `client.py`: the SigV4-signed client, error classification and description, `_bulk` bodies.
"""

from chalicelib.adapters.opensearch.client import build_aoss_client
from chalicelib.adapters.opensearch.index import OpenSearchVectorIndex

__all__ = ["OpenSearchVectorIndex", "build_aoss_client"]
