import urllib.parse


def lambda_handler(event, context):
    objects = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        size = record["s3"]["object"].get("size", 0)
        print(f"new object s3://{bucket}/{key} ({size} bytes)")
        objects.append(f"{bucket}/{key}")
    return {"processed": objects}
