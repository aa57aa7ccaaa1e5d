"""Validates a JSON file against a JSON Schema (python3-jsonschema).

Usage: check_schema.py SCHEMA FILE. Test-time only; the compiler does not
depend on Python.
"""
import json
import sys

import jsonschema

with open(sys.argv[1]) as f:
    schema = json.load(f)
with open(sys.argv[2]) as f:
    instance = json.load(f)
jsonschema.validate(instance, schema)
print("schema ok")
