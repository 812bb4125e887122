"""Translates template.yaml to plain CloudFormation JSON with the SAM
translator that cfn-lint installs, as CloudFormation's own
AWS::Serverless-2016-10-31 transform would, for deploy/sam_test.go.

Usage: python3 samtranslate.py TEMPLATE [Name=Value ...] > translated.json

Like cfn-lint and `sam validate`, it points every local CodeUri at a
stand-in S3 object (the translator needs one; nothing is uploaded) and
needs no AWS credentials: the template names no managed policies.
"""
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class NoManagedPolicies:
    """The template uses explicit roles only; a lookup would be a bug."""

    def load(self):
        return {}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/key"
    params = dict(arg.split("=", 1) for arg in sys.argv[2:])
    out = transform(template, params, NoManagedPolicies())
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
