"""ObjectStore on Amazon S3 (or the moto server, through the same calls)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from chalicelib.model import DocumentError, ErrorCode, ListedObject, StoredObject
from chalicelib.ports import ObjectStore


class S3ObjectStore(ObjectStore):
    def __init__(self, client: Any):
        self._s3 = client

    def get(self, bucket: str, key: str, max_bytes: int) -> StoredObject:
        from botocore.exceptions import ClientError

        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404", "NoSuchBucket"}:
                raise DocumentError(
                    ErrorCode.OBJECT_MISSING,
                    # The key, not the bucket: a bucket name carries the account id.
                    f"{key} no longer exists; upload it again to index it.",
                ) from error
            raise
        size = int(response.get("ContentLength", 0))
        body = response["Body"]
        if size > max_bytes:
            body.close()
            raise DocumentError(
                ErrorCode.TOO_LARGE,
                f"The file is {size:,} bytes; the limit is {max_bytes:,}. Split it into smaller files.",
            )
        # Read one byte past the limit so a lying Content-Length cannot make us read without bound.
        data = body.read(max_bytes + 1)
        body.close()
        if len(data) > max_bytes:
            raise DocumentError(ErrorCode.TOO_LARGE, f"The file is larger than the {max_bytes:,}-byte limit.")
        return StoredObject(
            bucket=bucket,
            key=key,
            body=data,
            etag=response.get("ETag", "").strip('"'),
            size=size,
            content_type=response.get("ContentType"),
            metadata=dict(response.get("Metadata") or {}),
            version_id=response.get("VersionId"),
        )

    def exists(self, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._s3.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise

    def put_json(self, bucket: str, key: str, document: dict[str, Any]) -> None:
        self._s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(document, ensure_ascii=False, default=str).encode("utf-8"),
            ContentType="application/json",
        )

    # delete_objects takes at most 1,000 keys a request.
    delete_batch_size = 1000

    def delete(self, bucket: str, key: str) -> None:
        """Remove every version and delete marker of `key`. Both buckets are versioned: a plain
        DeleteObject would only add a marker and keep the bytes (the source for 90 days, the text 30)."""
        versions = [
            {"Key": key, "VersionId": entry["VersionId"]}
            for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
            for entry in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
            # The listing is by prefix: "a.txt" also lists "a.txt.bak", which is another document.
            if entry["Key"] == key
        ]
        for start in range(0, len(versions), self.delete_batch_size):
            batch = versions[start : start + self.delete_batch_size]
            response = self._s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise RuntimeError(
                    f"S3 kept {len(errors)} of {len(batch)} versions of s3://{bucket}/{key}: "
                    f"{first.get('Code')}: {first.get('Message')}"
                )

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ListedObject]:
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield ListedObject(bucket, entry["Key"], entry["ETag"].strip('"'), int(entry["Size"]))

    def presign_upload(
        self, bucket: str, key: str, content_type: str, expires_in: int, max_bytes: int
    ) -> dict[str, Any]:
        # A POST policy, unlike a pre-signed PUT, can bound the size: S3 refuses a form whose key,
        # Content-Type or length strays from these conditions (moto does not check them: the worker's
        # own size check stays).
        post = self._s3.generate_presigned_post(
            Bucket=bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"key": key},
                ["eq", "$Content-Type", content_type],
                ["content-length-range", 1, max_bytes],
            ],
            ExpiresIn=expires_in,
        )
        return {"method": "POST", "url": post["url"], "fields": post["fields"]}
