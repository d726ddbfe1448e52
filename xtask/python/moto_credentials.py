"""Creates the IAM user the tests sign S3 requests as, in a moto server started with
INITIAL_NO_AUTH_ACTION_COUNT=3, and prints its access key id and secret.

The three IAM calls below are the requests moto lets through unauthenticated; from then
on it checks every request's signature against the keys it knows and the user's policy,
so wrong credentials get AccessDenied / SignatureDoesNotMatch as on AWS.
Usage: moto_credentials.py http://127.0.0.1:PORT
"""

import json
import sys

import boto3

endpoint = sys.argv[1]
iam = boto3.client(
    "iam",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="bootstrap",
    aws_secret_access_key="bootstrap",
)
iam.create_user(UserName="flyte-tests")
iam.put_user_policy(
    UserName="flyte-tests",
    PolicyName="s3-everything",
    PolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
    ),
)
key = iam.create_access_key(UserName="flyte-tests")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
