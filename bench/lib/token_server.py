#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A registry token service as Docker Hub's and distribution's: the
benchmark's registry runs with `auth: token` and sends clients here.

  token_server.py --listen HOST:PORT --cert CRT --key KEY --signing-key PEM
                  --issuer NAME --service NAME --user USER --password PASS

GET /token?service=S&scope=repository:NAME:pull,push[&scope=...] with
HTTP basic authentication as USER:PASS answers {"token", "access_token",
"expires_in", "issued_at"}; POST /token with an OAuth2 form
(grant_type=password with username and password, or refresh_token with
one this service issued; service; scope, space-separated), as containerd
asks when it has a login, answers {"access_token", "expires_in",
"issued_at", "scope"} (and a "refresh_token" for access_type=offline).
The token is a JWT (RS256) signed with the signing key,
whose "kid" is the key's libtrust fingerprint (what docker-registry looks
the key up by in its rootcertbundle), granting the asked actions on the
asked repositories. Wrong or missing credentials: 401. Over TLS (CRT, KEY),
HTTP/1.1 with keep-alive, one thread per connection. Every request is
logged to stdout as one line. Debian's python3 (python3-jwt,
python3-cryptography), not a virtualenv's.
"""
import argparse
import base64
import hashlib
import json
import secrets
import ssl
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization


def libtrust_kid(public_key):
    """docker/libtrust's key id: the first 240 bits of the SHA-256 of the
    DER SubjectPublicKeyInfo, base32, in 12 groups of 4 joined by ':'."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def parse_scope(scope):
    """"repository:NAME:a,b" -> {"type", "name", "actions"}; None if not."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
    if kind != "repository" or not name:
        return None
    wanted = [a for a in actions.split(",") if a in ("pull", "push", "delete", "*")]
    return {"type": kind, "name": name, "actions": wanted}


def main():
    ap = argparse.ArgumentParser()
    for flag in ("--listen", "--cert", "--key", "--signing-key", "--issuer", "--service", "--user",
                 "--password"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--ttl", type=int, default=300)
    args = ap.parse_args()
    with open(args.signing_key, "rb") as f:
        signing_key = serialization.load_pem_private_key(f.read(), password=None)
    kid = libtrust_kid(signing_key.public_key())
    expected = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    refresh_tokens = set()  # issued for access_type=offline; set.add is atomic

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status, body, extra=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def issue(self, scopes):
            access = [a for a in (parse_scope(s) for s in scopes) if a]
            now = int(time.time())
            claims = {"iss": args.issuer, "sub": args.user, "aud": args.service, "iat": now,
                      "nbf": now - 10, "exp": now + args.ttl, "jti": secrets.token_hex(16),
                      "access": access}
            token = jwt.encode(claims, signing_key, algorithm="RS256",
                               headers={"kid": kid, "typ": "JWT"})
            issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
            return {"access_token": token, "expires_in": args.ttl, "issued_at": issued}

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                return
            if not secrets.compare_digest(self.headers.get("Authorization", ""), expected):
                self.reply(401, {"errors": [{"code": "UNAUTHORIZED"}]},
                           [("WWW-Authenticate", 'Basic realm="syspgo-bench"')])
                return
            query = urllib.parse.parse_qs(url.query)
            if query.get("service", [""])[0] != args.service:
                self.reply(400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]})
                return
            body = self.issue(query.get("scope", []))
            body["token"] = body["access_token"]
            self.reply(200, body)

        def do_POST(self):
            if urllib.parse.urlsplit(self.path).path != "/token":
                self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > 65536:
                self.reply(400, {"error": "invalid_request"})
                return
            form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            field = lambda name: form.get(name, [""])[0]  # noqa: E731
            grant = field("grant_type")
            if grant == "password":
                ok = (secrets.compare_digest(field("username"), args.user) and
                      secrets.compare_digest(field("password"), args.password))
            elif grant == "refresh_token":
                ok = field("refresh_token") in refresh_tokens
            else:
                self.reply(400, {"error": "unsupported_grant_type"})
                return
            if not ok:
                self.reply(401, {"error": "invalid_grant"})
                return
            if field("service") != args.service:
                self.reply(400, {"error": "invalid_request", "error_description": "unknown service"})
                return
            scopes = field("scope").split()
            body = self.issue(scopes)
            body["scope"] = " ".join(scopes)
            if field("access_type") == "offline":
                refresh = secrets.token_urlsafe(24)
                refresh_tokens.add(refresh)
                body["refresh_token"] = refresh
            self.reply(200, body)

        def log_message(self, fmt, *a):
            sys.stdout.write("%s %s\n" % (self.address_string(), fmt % a))
            sys.stdout.flush()

    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"token service on https://{args.listen}/token, key id {kid}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
