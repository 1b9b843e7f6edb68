#!/usr/bin/env python3
"""Writes the Debian copyright file of the ferry package to stdout.

The crates linked into the `ferry` binary are the normal (not dev, not build)
dependencies of ferry-cli for the target, as `cargo metadata` resolves them
with the features in use. For each: its name, version, SPDX license
expression and repository, then every license file it ships (LICENSE*,
COPYING*, NOTICE*), identical texts printed once with the crates that share
them. A crate that ships no license file is listed under "no license file".

Usage: licenses.py [TARGET-TRIPLE]   (run in the workspace; needs cargo)
"""
import hashlib
import json
import os
import subprocess
import sys


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else host_triple()
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", target],
        )
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p["id"] for p in meta["packages"] if p["name"] == "ferry-cli")

    # Walk the normal dependency edges from ferry-cli.
    linked, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in linked:
            continue
        linked.add(pid)
        for dep in nodes[pid]["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    ours = {p for p in linked if packages[p]["source"] is None}
    theirs = sorted(linked - ours, key=lambda p: (packages[p]["name"], packages[p]["version"]))

    ferry = packages[root]
    out = [
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
        "Upstream-Name: ferry",
        f"Source: {ferry.get('repository') or 'the ferry repository'}",
        "",
        "Files: *",
        "Copyright: the ferry developers",
        f"License: {ferry['license'].replace(' OR ', ' or ')}",
        "Comment: ferry's own crates: "
        + ", ".join(sorted(packages[p]["name"] for p in ours)) + ".",
        "",
        f"Files: crates linked into /usr/bin/ferry ({len(theirs)}, from crates.io)",
        "Copyright: the authors of each crate, as its license files below say",
        "License: each crate's own, listed below (SPDX expressions, from cargo metadata)",
        "Comment:",
    ]
    by_license = {}
    for p in theirs:
        pkg = packages[p]
        lic = pkg.get("license") or (f"see {pkg['license_file']}" if pkg.get("license_file") else "unknown")
        by_license.setdefault(lic, []).append(pkg)
    for lic in sorted(by_license):
        out.append(f" {lic}:")
        for pkg in by_license[lic]:
            repo = pkg.get("repository") or ""
            out.append(f"   {pkg['name']} {pkg['version']}" + (f" <{repo}>" if repo else ""))

    # Every license file each crate ships, identical texts once.
    texts, without = {}, []
    for p in theirs:
        pkg = packages[p]
        crate_dir = os.path.dirname(pkg["manifest_path"])
        files = sorted(
            f for f in os.listdir(crate_dir)
            if f.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE", "UNLICENSE"))
            and os.path.isfile(os.path.join(crate_dir, f))
        )
        if not files:
            without.append(f"{pkg['name']} {pkg['version']}")
        for f in files:
            with open(os.path.join(crate_dir, f), encoding="utf-8", errors="replace") as fh:
                text = fh.read().strip()
            key = hashlib.sha256(text.encode()).hexdigest()
            texts.setdefault(key, (text, []))[1].append(f"{pkg['name']} {pkg['version']} ({f})")
    if without:
        out += ["", "Files: crates that ship no license file (their license is the SPDX expression above)",
                "Copyright: their authors", "License: see above", "Comment: " + ", ".join(without)]
    for text, users in sorted(texts.values(), key=lambda t: t[1][0]):
        out += ["", "License: text shipped by " + "; ".join(users)]
        out += [" " + (line if line.strip() else ".") for line in text.splitlines()]
    print("\n".join(out))


def host_triple():
    for line in subprocess.check_output(["rustc", "-vV"], text=True).splitlines():
        if line.startswith("host: "):
            return line[len("host: "):]
    raise SystemExit("rustc -vV names no host")


if __name__ == "__main__":
    main()
