#!/usr/bin/env python3
"""Independent cross-check for platctl's sealing, built on kubesealpy (PyPI).

Used by the Rust tests (crates/secrets/tests, crates/platctl/tests/it/secrets.rs)
and by bench/seal.sh. Key material is generated at run time into a temporary
directory given by the caller; nothing here is committed key material.

  gen     --dir D [--bits N] [--expired] [--ec] [--no-key] [--org O]
          write D/cert.pem (+ D/key.pem unless --no-key)
  unseal  --key K --sealed F [--scope S --namespace NS --name N]
          decrypt every value of the SealedSecret in F with kubesealpy's Unsealer;
          scope from the annotations unless --scope; prints JSON; exit 3 when
          decryption fails
  seal    --cert C < secret.yaml                  seal one Secret from stdin (per-process cost)
  raw-seal   --cert C [--label L] < bytes          kubesealpy HybridEncrypt, base64 out
  raw-unseal --key K [--label L] < base64         kubesealpy HybridDecrypt, base64 out (exit 3 on failure)
  sa-jwt  --dir D [--namespace NS --sa SA --audience A]
          a service-account-style JWT (D/jwt) and its public key (D/jwt-pub.pem)
  bench   --cert C --secrets N --keys M          seal N secrets of M values with
          kubesealpy; prints JSON {"secrets_per_second": ...}
"""

import argparse
import base64
import datetime
import json
import os
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import kubesealpy
from kubesealpy import SealedSecret, Sealer, SealingScope, Unsealer
from kubesealpy.certificate import load_private_key_from_file


def gen(args):
    os.makedirs(args.dir, exist_ok=True)
    if args.ec:
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=args.bits)
    now = datetime.datetime.now(datetime.timezone.utc)
    if args.expired:
        not_before, not_after = now - datetime.timedelta(days=60), now - datetime.timedelta(days=30)
    else:
        not_before, not_after = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=3650)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, args.org)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    with open(os.path.join(args.dir, "cert.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    if args.key:
        for name, encoding in (("key.pem", serialization.Encoding.PEM), ("key.der", serialization.Encoding.DER)):
            with open(os.path.join(args.dir, name), "wb") as f:
                f.write(key.private_bytes(encoding, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    print(json.dumps({"not_after": not_after.isoformat()}))


def unseal(args):
    unsealer = Unsealer.from_private_key_file(args.key)
    with open(args.sealed) as f:
        text = f.read()
    sealed = SealedSecret.from_yaml(text)
    try:
        if args.scope:
            scope = SealingScope(args.scope)
            ns = args.namespace if args.namespace is not None else sealed.metadata.namespace
            name = args.name if args.name is not None else sealed.metadata.name
            data = {k: base64.b64encode(unsealer.unseal_value(v, namespace=ns, name=name, scope=scope)).decode()
                    for k, v in sealed.get_encrypted_data().items()}
            out = {"data": data}
        else:
            secret = unsealer.unseal(sealed)
            meta = secret.metadata
            out = {"name": meta.name, "namespace": meta.namespace, "type": secret.type,
                   "labels": meta.labels or {}, "annotations": meta.annotations or {},
                   "scope": kubesealpy.scopes.scope_from_annotations(sealed.metadata.annotations).value,
                   "data": secret.data or {}}
    except kubesealpy.DecryptionError as e:
        print(f"decryption failed: {e}", file=sys.stderr)
        sys.exit(3)
    print(json.dumps(out, sort_keys=True))


def bench(args):
    with open(args.cert, "rb") as f:
        sealer = Sealer.from_certificate_pem(f.read())
    data = {f"key{i}": os.urandom(24) for i in range(args.keys)}
    start = time.perf_counter()
    for i in range(args.secrets):
        sealed = sealer.seal(name=f"s{i}", namespace="bench", data=data)
        sealed.to_yaml()
    elapsed = time.perf_counter() - start
    print(json.dumps({"secrets": args.secrets, "keys": args.keys, "seconds": elapsed,
                      "secrets_per_second": args.secrets / elapsed}))


def seal_stdin(args):
    """One process, one Secret: the per-invocation cost, like running kubeseal."""
    with open(args.cert, "rb") as f:
        sealer = Sealer.from_certificate_pem(f.read())
    secret = kubesealpy.Secret.from_yaml(sys.stdin.read())
    sys.stdout.write(sealer.seal_secret(secret).to_yaml())


def raw_seal(args):
    """kubesealpy's HybridEncrypt of stdin's bytes under --label; base64 out."""
    with open(args.cert, "rb") as f:
        sealer = Sealer.from_certificate_pem(f.read())
    ct = kubesealpy.crypto.encrypt(sys.stdin.buffer.read(), sealer.public_key, args.label.encode())
    print(base64.b64encode(ct).decode())


def raw_unseal(args):
    """kubesealpy's HybridDecrypt of base64 stdin under --label; base64 out, exit 3 on failure."""
    key = load_private_key_from_file(args.key)
    ct = base64.b64decode(sys.stdin.read())
    try:
        pt = kubesealpy.crypto.decrypt(ct, key, args.label.encode())
    except kubesealpy.DecryptionError as e:
        print(f"decryption failed: {e}", file=sys.stderr)
        sys.exit(3)
    print(base64.b64encode(pt).decode())


def sa_jwt(args):
    """A Kubernetes-style service account JWT (RS256) signed with a fresh key:
    writes D/jwt and D/jwt-pub.pem (for OpenBao's jwt_validation_pubkeys)."""
    from cryptography.hazmat.primitives.asymmetric import padding
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": "test"}
    claims = {"iss": "https://kubernetes.default.svc", "aud": [args.audience], "iat": now, "nbf": now - 5,
              "exp": now + 600, "sub": f"system:serviceaccount:{args.namespace}:{args.sa}",
              "kubernetes.io": {"namespace": args.namespace, "serviceaccount": {"name": args.sa}}}
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(claims).encode())}"
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    os.makedirs(args.dir, exist_ok=True)
    with open(os.path.join(args.dir, "jwt"), "w") as f:
        f.write(f"{signing_input}.{b64u(sig)}\n")
    with open(os.path.join(args.dir, "jwt-pub.pem"), "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--dir", required=True)
    g.add_argument("--bits", type=int, default=2048)
    g.add_argument("--expired", action="store_true")
    g.add_argument("--ec", action="store_true")
    g.add_argument("--no-key", dest="key", action="store_false")
    g.add_argument("--org", default="platctl test")
    u = sub.add_parser("unseal")
    u.add_argument("--key", required=True)
    u.add_argument("--sealed", required=True)
    u.add_argument("--scope", choices=["strict", "namespace-wide", "cluster-wide"])
    u.add_argument("--namespace")
    u.add_argument("--name")
    b = sub.add_parser("bench")
    b.add_argument("--cert", required=True)
    b.add_argument("--secrets", type=int, default=200)
    b.add_argument("--keys", type=int, default=3)
    o = sub.add_parser("seal")
    o.add_argument("--cert", required=True)
    rs = sub.add_parser("raw-seal")
    rs.add_argument("--cert", required=True)
    rs.add_argument("--label", default="")
    ru = sub.add_parser("raw-unseal")
    ru.add_argument("--key", required=True)
    ru.add_argument("--label", default="")
    j = sub.add_parser("sa-jwt")
    j.add_argument("--dir", required=True)
    j.add_argument("--namespace", default="platform")
    j.add_argument("--sa", default="secrets-sync")
    j.add_argument("--audience", default="openbao")
    args = p.parse_args()
    {"gen": gen, "unseal": unseal, "bench": bench, "seal": seal_stdin,
     "raw-seal": raw_seal, "raw-unseal": raw_unseal, "sa-jwt": sa_jwt}[args.cmd](args)


if __name__ == "__main__":
    main()
