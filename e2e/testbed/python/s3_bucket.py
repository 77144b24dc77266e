"""Create an S3 bucket if it does not exist (floe e2e test bed).

usage: s3_bucket.py ENDPOINT ACCESS_KEY SECRET_KEY REGION BUCKET
"""
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def main() -> int:
    endpoint, access, secret, region, bucket = sys.argv[1:6]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )
    try:
        s3.head_bucket(Bucket=bucket)
        print(f"bucket {bucket} exists")
        return 0
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    s3.create_bucket(Bucket=bucket)
    s3.head_bucket(Bucket=bucket)
    print(f"bucket {bucket} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
