"""Test-event templates of the common event sources, shaped as AWS delivers them to a function."""

from __future__ import annotations

_ARN = "arn:aws:{service}:us-east-1:000000000000:{resource}"

TEMPLATES: dict[str, dict] = {
    "hello-world": {"title": "Hello world", "event": {"key1": "value1", "key2": "value2", "key3": "value3"}},
    "function-url": {"title": "Function URL / API Gateway HTTP API (payload 2.0)", "event": {
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "name=you",
        "headers": {"accept": "*/*", "host": "abcdefghij.lambda-url.us-east-1.on.aws", "user-agent": "curl/8.0"},
        "queryStringParameters": {"name": "you"},
        "requestContext": {
            "accountId": "anonymous", "apiId": "abcdefghij", "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij", "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1",
                                                    "sourceIp": "127.0.0.1", "userAgent": "curl/8.0"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "routeKey": "$default", "stage": "$default",
            "time": "04/Dec/2026:00:00:00 +0000", "timeEpoch": 1796342400000},
        "isBase64Encoded": False}},
    "sqs": {"title": "SQS", "event": {"Records": [
        {"messageId": "059f36b4-87a3-44ab-83d2-661975830a7d", "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
         "body": "{\"order\": 1}", "attributes": {
             "ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183",
             "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1545082649185"},
         "messageAttributes": {}, "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3", "eventSource": "aws:sqs",
         "eventSourceARN": _ARN.format(service="sqs", resource="my-queue"), "awsRegion": "us-east-1"},
        {"messageId": "2e1424d4-f796-459a-8184-9c92662be6da", "receiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq",
         "body": "{\"order\": 2, \"fail\": true}", "attributes": {
             "ApproximateReceiveCount": "1", "SentTimestamp": "1545082650636",
             "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1545082650649"},
         "messageAttributes": {}, "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3", "eventSource": "aws:sqs",
         "eventSourceARN": _ARN.format(service="sqs", resource="my-queue"), "awsRegion": "us-east-1"}]}},
    "s3": {"title": "S3 Put", "event": {"Records": [{
        "eventVersion": "2.0", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "1970-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123/abcdefghijklmno"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "testConfigRule",
               "bucket": {"name": "example-bucket", "ownerIdentity": {"principalId": "EXAMPLE"},
                          "arn": "arn:aws:s3:::example-bucket"},
               "object": {"key": "test%2Fkey", "size": 1024, "eTag": "0123456789abcdef0123456789abcdef",
                          "sequencer": "0A1B2C3D4E5F678901"}}}]}},
    "kinesis": {"title": "Kinesis", "event": {"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "1",
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "data": "eyJtZXNzYWdlIjogImhlbGxvIn0=", "approximateArrivalTimestamp": 1545084650.987},
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::000000000000:role/lambda-role",
        "awsRegion": "us-east-1", "eventSourceARN": _ARN.format(service="kinesis", resource="stream/my-stream")}]}},
    "dynamodb": {"title": "DynamoDB stream", "event": {"Records": [{
        "eventID": "1", "eventVersion": "1.0", "eventName": "INSERT", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1", "dynamodb": {
            "Keys": {"Id": {"N": "101"}}, "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
            "StreamViewType": "NEW_AND_OLD_IMAGES", "SequenceNumber": "111", "SizeBytes": 26},
        "eventSourceARN": _ARN.format(service="dynamodb",
                                      resource="table/my-table/stream/2015-06-27T00:48:05.899")}]}},
    "schedule": {"title": "EventBridge schedule", "event": {
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "000000000000", "time": "2026-12-04T00:00:00Z", "region": "us-east-1",
        "resources": [_ARN.format(service="events", resource="rule/my-schedule")], "detail": {}}},
}
