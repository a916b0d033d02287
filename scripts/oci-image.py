#!/usr/bin/env python3
"""Builds a single-layer OCI image archive from files on disk, without a Docker engine.

The local node (scripts/node.sh) cannot pull from any registry, so its two images are made here:
the operator (the static binary of `make static`, as the Dockerfile's distroless stage ships it:
non-root user 65532, CA certificates, no shell) and the pod sandbox (tools/pause). The archive is
an OCI image layout in a tar (`oci-layout`, `index.json`, `blobs/sha256/...`), which
`ctr images import` reads; the reference is recorded in the index's annotations.

The layer is reproducible: entries sorted, owner 0:0, mtime 0, so the same inputs give the same
digest (an upgrade to "a new image tag" is a new tag on a new digest only when the binary changed;
`--label` changes the config and so the image digest without touching the layer).

    scripts/oci-image.py --ref docker.io/library/trackvia-operator:0.1.0 --out op.tar \
        --file target/.../trackvia-operator:/trackvia-operator:0555 \
        --passwd 65532:nonroot --user 65532:65532 --entrypoint /trackvia-operator --cmd run
"""

import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def tar_info(name, size=0, mode=0o644, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.type = size, mode, kind
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def layer(files, dirs):
    """The uncompressed layer tar: directories first (parents of every file too), then files."""
    entries = {}
    for path, mode in dirs:
        entries[path.strip("/")] = ("dir", None, mode)
    for src, dst, mode, data in files:
        parts = dst.strip("/").split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), ("dir", None, 0o755))
        entries[dst.strip("/")] = ("file", data if data is not None else open(src, "rb").read(), mode)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            kind, data, mode = entries[name]
            if kind == "dir":
                tar.addfile(tar_info(name + "/", mode=mode, kind=tarfile.DIRTYPE))
            else:
                tar.addfile(tar_info(name, len(data), mode), io.BytesIO(data))
    return raw.getvalue()


def blob(out, data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tar_info("blobs/sha256/" + digest.split(":")[1], len(data))
    out.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def parse_file(spec):
    try:
        src, dst, mode = spec.rsplit(":", 2)
        return src, dst, int(mode, 8), None
    except ValueError:
        sys.exit(f"--file wants SRC:DST:OCTAL-MODE, got {spec!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ref", required=True, help="full image reference, e.g. docker.io/library/x:1")
    p.add_argument("--out", required=True, help="archive to write")
    p.add_argument("--file", action="append", default=[], help="SRC:DST:MODE (octal)")
    p.add_argument("--dir", action="append", default=[], help="DST:MODE (octal), e.g. /tmp:1777")
    p.add_argument("--passwd", help="UID:NAME: write /etc/passwd and /etc/group with that user")
    p.add_argument("--user", help="UID:GID the image runs as")
    p.add_argument("--entrypoint", action="append", default=[])
    p.add_argument("--cmd", action="append", default=[])
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE")
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE (image config label)")
    a = p.parse_args()

    files = [parse_file(f) for f in a.file]
    if a.passwd:
        uid, name = a.passwd.split(":", 1)
        passwd = f"root:x:0:0:root:/root:/sbin/nologin\n{name}:x:{uid}:{uid}:{name}:/home/{name}:/sbin/nologin\n"
        group = f"root:x:0:\n{name}:x:{uid}:\n"
        files += [(None, "/etc/passwd", 0o644, passwd.encode()), (None, "/etc/group", 0o644, group.encode())]
    dirs = []
    for d in a.dir:
        path, mode = d.rsplit(":", 1)
        dirs.append((path, int(mode, 8)))

    tar_bytes = layer(files, dirs)
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as g:
        g.write(tar_bytes)

    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": a.user or "",
            "Entrypoint": a.entrypoint or None,
            "Cmd": a.cmd or None,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env,
            "Labels": dict(kv.split("=", 1) for kv in a.label) or None,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "scripts/oci-image.py"}],
    }
    config["config"] = {k: v for k, v in config["config"].items() if v}

    with tarfile.open(a.out, mode="w", format=tarfile.PAX_FORMAT) as out:
        layout = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
        out.addfile(tar_info("oci-layout", len(layout)), io.BytesIO(layout))
        config_desc = blob(out, json.dumps(config, sort_keys=True).encode(), OCI_CONFIG)
        layer_desc = blob(out, gz.getvalue(), OCI_LAYER_GZIP)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": [layer_desc]}
        manifest_desc = blob(out, json.dumps(manifest, sort_keys=True).encode(), OCI_MANIFEST)
        tag = a.ref.rsplit(":", 1)[1] if ":" in a.ref.rsplit("/", 1)[-1] else "latest"
        manifest_desc["annotations"] = {
            "io.containerd.image.name": a.ref,
            "org.opencontainers.image.ref.name": tag,
        }
        index = json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}, sort_keys=True).encode()
        out.addfile(tar_info("index.json", len(index)), io.BytesIO(index))
    print(f"{a.ref} {manifest_desc['digest']} ({len(gz.getvalue())} bytes compressed)")


if __name__ == "__main__":
    main()
