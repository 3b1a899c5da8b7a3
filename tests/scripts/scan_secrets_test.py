#!/usr/bin/env python3
"""Tests of scripts/scan-secrets: it finds a planted secret (as is, as base64, inside a longer
base64 text, and a PEM private key's body) in a log, names its label and never prints its value,
and passes clean logs.

Usage: scan_secrets_test.py SCAN_SECRETS_SCRIPT
"""
import base64
import pathlib
import subprocess
import sys
import tempfile
import unittest

SCRIPT = None
SECRET = "planted-s3cret-4f9c2a"
KEY_BODY = [
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgq3Nz0V1fJm2fXc8a",
    "oUQDQgAE1G3fW0yJ8tZ7tq0v2kqCk9Qm7s8v1pY2bq5n0e9mZr0l3V6yQ2Qm8i9c",
]


class ScanSecretsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.root = pathlib.Path(self.dir.name)
        self.secrets = self.root / "secrets.tsv"
        self.secrets.write_text("# label<TAB>value\nwebhook secret\t%s\n" % SECRET)
        self.logs = self.root / "logs"
        (self.logs / "agent_test").mkdir(parents=True)

    def tearDown(self):
        self.dir.cleanup()

    def scan(self, *extra):
        return subprocess.run(
            [sys.executable, SCRIPT, "--secrets", str(self.secrets), *extra, str(self.logs)],
            capture_output=True, text=True, timeout=60)

    def log(self, text, name="agent_test/a.log"):
        (self.logs / name).write_text(text)

    def assert_found(self, result, where, how):
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 1, output)
        self.assertIn(where + ": webhook secret (" + how + ")", result.stdout)
        self.assertNotIn(SECRET, output)

    def test_clean_logs_pass(self):
        self.log('{"level":"info","msg":"sync ok"}\nwebhook secret read from a file\n')
        result = self.scan()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")

    def test_finds_the_secret_as_is_with_file_line_and_label(self):
        self.log("line one\nerror: bad signature for " + SECRET + "\n")
        self.assert_found(self.scan(), str(self.logs / "agent_test/a.log") + ":2", "as is")

    def test_finds_the_base64_of_the_secret(self):
        encoded = base64.b64encode(SECRET.encode()).decode()
        self.log("x\ny\nAuthorization: Basic " + encoded + "\n", "LastTest.log")
        self.assert_found(self.scan(), str(self.logs / "LastTest.log") + ":3", "base64")

    def test_finds_the_secret_inside_longer_base64_at_every_alignment(self):
        for prefix in ("git:", "gi:", "g:"):
            encoded = base64.b64encode((prefix + SECRET + "!").encode()).decode()
            self.log("Authorization: Basic " + encoded + "\n")
            self.assert_found(self.scan(), str(self.logs / "agent_test/a.log") + ":1", "base64")

    def test_finds_pem_private_key_body_lines(self):
        key = self.root / "pki" / "admin.key"
        key.parent.mkdir()
        key.write_text("-----BEGIN PRIVATE KEY-----\n" + "\n".join(KEY_BODY) +
                       "\n-----END PRIVATE KEY-----\n")
        self.log("clean\n")
        self.assertEqual(self.scan("--pem-keys", str(key.parent)).returncode, 0)
        self.log("leak: " + KEY_BODY[1] + "\n")
        result = self.scan("--pem-keys", str(key.parent))
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("a.log:1: private key %s line 3 (as is)" % key, result.stdout)
        self.assertNotIn(KEY_BODY[1], result.stdout + result.stderr)
        # A kubeconfig's client-key-data is the base64 of the whole PEM file.
        self.log("client-key-data: " + base64.b64encode(key.read_bytes()).decode() + "\n")
        result = self.scan("--pem-keys", str(key))
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("(base64)", result.stdout)

    def test_refuses_secrets_too_short_to_search_for(self):
        self.secrets.write_text("short\tabc\n")
        self.log("abc\n")
        result = self.scan()
        self.assertEqual(result.returncode, 2)
        self.assertIn("'short' is shorter than 8 characters", result.stderr)
        self.assertNotIn("abc", result.stderr)

    def test_missing_registration_file_means_no_secrets(self):
        self.secrets.unlink()
        self.log(SECRET + "\n")
        self.assertEqual(self.scan().returncode, 0)


if __name__ == "__main__":
    SCRIPT = sys.argv.pop(1)
    unittest.main()
