"""The test's own S3 client for t/s3.t (boto3, SigV4, path-style).

    s3ctl.py ENDPOINT put BUCKET KEY FILE CONTENT_TYPE [KEY FILE CONTENT_TYPE ...]
    s3ctl.py ENDPOINT presign BUCKET get|head KEY [get|head KEY ...]

presign prints one URL a line, valid for 300 seconds.  Credentials come
from the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), as for
the application.  Keys are UTF-8.
"""
import sys

import boto3
from botocore.config import Config


def main(endpoint, command, bucket, *args):
    s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1',
                      config=Config(signature_version='s3v4',
                                    s3={'addressing_style': 'path'}))
    if command == 'put':
        for key, path, content_type in zip(*[iter(args)] * 3):
            with open(path, 'rb') as f:
                s3.put_object(Bucket=bucket, Key=key, Body=f.read(),
                              ContentType=content_type)
    elif command == 'presign':
        ops = {'get': 'get_object', 'head': 'head_object'}
        for method, key in zip(*[iter(args)] * 2):
            print(s3.generate_presigned_url(
                ops[method], Params={'Bucket': bucket, 'Key': key}, ExpiresIn=300))
    else:
        sys.exit('unknown command ' + command)


if __name__ == '__main__':
    main(*sys.argv[1:])
