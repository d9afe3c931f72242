"""How this corpus was made: copies WireMock mapping folders out of local bare clones of the
public repositories named below (one `git clone --bare` each, at the commit SOURCES.md names)
into WireMock's root-dir layout, with the `__files` their `bodyFileName`s use and each
repository's licence. It only copies files; nothing of those repositories is run.

    python3 tests/wiremock-corpus/collect.py MIRRORS_DIR

MIRRORS_DIR holds `<owner>+<repo>/repo`, a bare git directory of each repository. The test does
not need this script: it reads the committed copy.
"""

import json
import pathlib
import posixpath
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
MAX_FILE = 1_000_000  # bytes; a bigger mapping or body file is left out (and listed)

# Each corpus root is one WireMock --root-dir. A part copies one source folder's mappings into
# <root>/mappings/<label>/ and the body files they name from `files` into <root>/__files/.
# Roots that are one WireMock instance in their project stay one root; a repository's several
# small test roots are merged into one (labels keep their mappings apart) where their URLs and
# body-file names do not collide.
ROOTS = [
    # Atlassian's VS Code extension: its end-to-end tests run two WireMock containers, one for
    # Jira (Cloud and Data Center) and one for Bitbucket (Cloud and Data Center).
    ("atlassian/atlascode", "LICENSE", "mockedteams", [
        dict(mappings="e2e/wiremock-mappings/mockedteams", files="e2e/wiremock-mappings/mockedteams/__files",
             exclude=("__files/", "test-files/"))]),
    ("atlassian/atlascode", "LICENSE", "bitbucket", [
        dict(mappings="e2e/wiremock-mappings/bitbucket", files=None)]),
    # WireMock itself: test resources and the sample WAR's folder.
    ("wiremock/wiremock", "LICENSE.txt", "", [
        dict(label="test-file-root", mappings="src/test/resources/test-file-root/mappings",
             files="src/test/resources/test-file-root/__files"),
        dict(label="classpath-filesource", mappings="src/test/resources/classpath-filesource/mappings",
             files="src/test/resources/classpath-filesource/__files"),
        dict(label="remoteloader", mappings="src/test/resources/remoteloader/mappings",
             files="src/test/resources/remoteloader/__files"),
        dict(label="sample-war", mappings="sample-war/src/main/webapp/WEB-INF/wiremock/mappings",
             files="sample-war/src/main/webapp/WEB-INF/wiremock/__files")]),
    ("wiremock/wiremock-docker", "LICENSE.txt", "", [
        dict(label="hello", mappings="samples/hello/stubs/mappings", files="samples/hello/stubs/__files"),
        dict(label="random", mappings="samples/random/stubs/mappings", files="samples/random/stubs/__files")]),
    # Its tests start one WireMock per client: `user-client` (whose GET /1 is also in `wiremock`)
    # is a root of its own.
    ("wiremock/wiremock-spring-boot", "LICENSE", "default", [
        dict(label="files-under-directory", mappings="wiremock-spring-boot/src/test/files-under-directory/mappings", files=None),
        dict(label="custom-location", mappings="wiremock-spring-boot/src/test/resources/custom-location/mappings", files=None),
        dict(label="response-templating", mappings="wiremock-spring-boot/src/test/resources/response-templating/mappings", files=None),
        dict(label="wiremock", mappings="wiremock-spring-boot/src/test/resources/wiremock/mappings", files=None)]),
    ("wiremock/wiremock-spring-boot", "LICENSE", "user-client", [
        dict(mappings="wiremock-spring-boot/src/test/resources/wiremock/user-client/mappings", files=None)]),
    ("wiremock/wiremock-state-extension", "LICENSE", "", [
        dict(label="demo", mappings="demo/stubs/mappings", files="demo/stubs/__files"),
        dict(label="remoteloader", mappings="src/test/resources/remoteloader/mappings",
             files="src/test/resources/remoteloader/__files")]),
    ("quarkiverse/quarkus-wiremock", "LICENSE", "", [
        dict(label="default", mappings="deployment/src/test/resources/mappings", files=None),
        dict(label="other", mappings="deployment/src/test/resources/other/mappings", files=None)]),
    # Services' local stacks (UK government: Ministry of Justice, DEFRA) and an MCP server's mock.
    ("ministryofjustice/hmpps-tier-ui", "LICENSE", "", [
        dict(mappings="wiremock/mappings", files="wiremock/__files")]),
    ("ministryofjustice/hmpps-incident-reporting", "LICENSE", "", [
        dict(mappings="wiremock/mappings", files="wiremock/__files")]),
    ("ministryofjustice/hmpps-locations-inside-prison-api", "LICENSE", "", [
        dict(mappings="wiremock/mappings", files="wiremock/__files")]),
    ("DEFRA/ai-defra-search-aws-bedrock-stub", "LICENCE", "", [
        dict(mappings="wiremock/mappings", files="wiremock/__files")]),
    # Its Makefile serves wiremock/fixtures as the files root.
    ("stackrox/stackrox-mcp", "LICENSE", "", [
        dict(mappings="wiremock/mappings", files="wiremock/fixtures")]),
    # Recorded GitHub API answers: a Jenkins plugin's tests (three WireMock roots) and an SDK's
    # test suite (one root per test; four of its ~400 tests).
    ("jenkinsci/github-branch-source-plugin", "LICENSE.txt", "api", [
        dict(mappings="src/test/resources/api/mappings", files="src/test/resources/api/__files")]),
    ("jenkinsci/github-branch-source-plugin", "LICENSE.txt", "cache_failure", [
        dict(mappings="src/test/resources/cache_failure/mappings", files="src/test/resources/cache_failure/__files")]),
    ("jenkinsci/github-branch-source-plugin", "LICENSE.txt", "raw", [
        dict(mappings="src/test/resources/raw/mappings", files="src/test/resources/raw/__files")]),
] + [
    ("hub4j/github-api", "LICENSE.txt", test.replace("/wiremock/", "."), [
        dict(mappings=f"src/test/resources/org/kohsuke/github/{test}/mappings",
             files=f"src/test/resources/org/kohsuke/github/{test}/__files")])
    for test in ["LifecycleTest/wiremock/testCreateRepository", "GHIssueTest/wiremock/removeLabels",
                 "GHTeamTest/wiremock/addRemoveMember", "GHGistTest/wiremock/starTest"]
]


def git(gitdir, *args):
    return subprocess.run(["git", "--git-dir", str(gitdir), *args], check=True, capture_output=True).stdout


def tree(gitdir, prefix):
    """{path relative to prefix: (size, full path)} of the files under prefix at HEAD."""
    out = {}
    for line in git(gitdir, "ls-tree", "-r", "--long", "HEAD", prefix + "/").decode().splitlines():
        meta, path = line.split("\t", 1)
        size = meta.split()[3]
        out[path[len(prefix) + 1:]] = (int(size) if size.isdigit() else None, path)
    return out


def body_file_names(doc):
    maps = doc.get("mappings") if isinstance(doc, dict) and "mappings" in doc else [doc]
    for m in maps if isinstance(maps, list) else []:
        if isinstance(m, dict) and isinstance(m.get("response"), dict):
            name = m["response"].get("bodyFileName")
            if isinstance(name, str):
                yield name


def main(mirrors):
    manifest = {}
    for repo, licence, root, parts in ROOTS:
        owner_repo = repo.replace("/", "__")
        gitdir = mirrors / repo.replace("/", "+") / "repo"
        commit = git(gitdir, "rev-parse", "HEAD").decode().strip()
        base = HERE / owner_repo
        dest = base / root if root else base
        base.mkdir(parents=True, exist_ok=True)
        (base / "LICENSE").write_bytes(git(gitdir, "show", f"HEAD:{licence}"))
        entry = manifest.setdefault(repo, {"commit": commit, "licence_file": licence, "roots": {}})
        info = entry["roots"].setdefault(root or ".", {"paths": [], "mappings": 0, "files": 0, "skipped": []})
        seen = set()
        for part in parts:
            info["paths"].append(part["mappings"] + (f" (+ {part['files']} as __files)" if part["files"] else ""))
            label = part.get("label", "")
            files = tree(gitdir, part["files"]) if part["files"] else {}
            for rel, (size, path) in sorted(tree(gitdir, part["mappings"]).items()):
                if not rel.endswith(".json") or rel.startswith(part.get("exclude", ())):
                    continue
                if size is None or size > MAX_FILE:
                    info["skipped"].append(f"{path} ({size} bytes: too big for the corpus)")
                    continue
                data = git(gitdir, "show", f"HEAD:{path}")
                target = dest / "mappings" / label / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                info["mappings"] += 1
                try:
                    doc = json.loads(data.decode("utf-8-sig"))
                except ValueError:
                    continue
                for name in body_file_names(doc):
                    wanted = [name] if "{{" not in name else sorted(files)  # a templated name: all
                    for want in wanted:
                        want = posixpath.normpath(want)
                        if want not in files:
                            info["skipped"].append(f"{path}: bodyFileName {want} is not in the repository")
                            continue
                        fsize, fpath = files[want]
                        out = dest / "__files" / want
                        if fsize is None or fsize > MAX_FILE:
                            info["skipped"].append(f"{fpath} ({fsize} bytes: too big for the corpus)")
                            continue
                        blob = git(gitdir, "show", f"HEAD:{fpath}")
                        if want in seen:
                            assert out.read_bytes() == blob, f"two different {want} in {root}"
                            continue
                        seen.add(want)
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(blob)
                        info["files"] += 1
        if not (dest / "__files").exists():
            (dest / "__files").mkdir(parents=True)
            (dest / "__files" / ".keep").write_text("")
    (HERE / "sources.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    write_sources_md(manifest)


LICENCES = {"Apache License": "Apache-2.0", "MIT License": "MIT", "The MIT License": "MIT",
            "Open Government Licence": "Open Government Licence v3.0",
            "Permission is hereby granted": "MIT"}


def licence_name(path):
    text = path.read_text()
    return next(name for key, name in LICENCES.items() if key in text)


def write_sources_md(manifest):
    lines = [
        "# Where the corpus comes from",
        "",
        "Real WireMock mapping folders from public repositories, nobody on this project wrote them.",
        "Each `<owner>__<repo>/` folder holds that repository's licence (`LICENSE`, copied as it is)",
        "and one or more WireMock root folders (`mappings/` and `__files/`, as `--root-dir` reads",
        "them). The files are unchanged copies; only their place changed (each part's mappings under",
        "`mappings/<label>/` when several small test folders of one repository were merged into one",
        "root). `collect.py` made the copy from bare clones at the commits below",
        "(`sources.json` is its manifest); `tests/clients/test_wiremock_corpus.py` serves every root",
        "with the real WireMock 3.13.2 and with tokenauth-stub and compares the answers",
        "(`known-differences.json` lists every difference it finds today):",
        "",
        "    TOKENAUTH_BIN=target/debug/tokenauth-stub .venv/bin/python -m pytest tests/clients/test_wiremock_corpus.py",
        "",
        "| repository | licence | commit | root | copied from | mapping files | body files |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    skipped = []
    total = 0
    for repo in sorted(manifest, key=str.lower):
        e = manifest[repo]
        lic = licence_name(HERE / repo.replace("/", "__") / "LICENSE")
        for root, info in sorted(e["roots"].items()):
            total += info["mappings"]
            lines.append(f"| [{repo}](https://github.com/{repo}) | {lic} (`{e['licence_file']}`) | "
                         f"`{e['commit']}` | `{root}` | " + "<br>".join(f"`{p}`" for p in info["paths"]) +
                         f" | {info['mappings']} | {info['files']} |")
            skipped += [f"- {repo}: {s}" for s in info["skipped"]]
    lines += ["", f"{total} mapping files from {len(manifest)} repositories.", "",
              "## Left out", ""] + (skipped or ["- nothing"]) + [""]
    lines += [
        "Repositories found but not copied because they carry no licence (so their files may not",
        "be redistributed): isatis7/QapiRag-Jira-Mock (8 Jira mappings), dekkz/wiremock-features-example (6),",
        "TiendaNube/services-multi-inventory-mocks (3), navikt/tiltak-refusjon-api (8).",
        "hmcts/civil-service (MIT, WireMock mappings) was over the 500 MiB the snapshot tool brings.",
        "",
    ]
    (HERE / "SOURCES.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
