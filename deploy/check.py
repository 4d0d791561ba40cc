#!/usr/bin/env python3
"""Static checks of every deployment file, for CI: no cluster, no container engine needed.

Run with the tools that scripts/deploy-env installs:

    "$(scripts/deploy-env)" deploy/check.py            # everything
    "$(scripts/deploy-env)" deploy/check.py --only k8s --k8s-dir /tmp/copy-of-k8s

What is checked:

compose     `docker compose config` (or Debian's `docker-compose config`) on deploy/compose.yaml:
            the file is valid against the Compose Spec and everything it references exists. When
            deploy/make-secrets.sh exists, the check runs on a copy of deploy/ in which that script
            has made fresh secrets, so the real deploy/secrets/ is never created or changed.
dockerfile  hadolint on the Dockerfile (errors fail, warnings are printed), then our rules,
            read with dockerfile-parse: a multi-stage build whose final stage runs as a non-root
            USER, has ENTRYPOINT instadash and a HEALTHCHECK.
k8s         every YAML document of deploy/k8s/*.yaml (kustomization.yaml apart): built-in kinds
            against the Kubernetes API schemas of a pinned version (kubernetes-validate, strict:
            unknown fields are errors), custom kinds against deploy/k8s/schemas/ (an unknown kind
            is an error); then our rules: every workload container has liveness and readiness
            probes, CPU and memory requests and limits, and a locked-down securityContext; every
            Instadash container reaches the broker by amqps:// with its password in a mounted
            file; references between resources resolve (clusters, users, exchanges, queues,
            credentials Secrets, autoscaler targets); kustomization.yaml lists exactly the files.
guest       (with every group) no file uses RabbitMQ's guest credentials.

Output: one line per problem, `file[document] Kind/name: problem`, and a summary. Exit status 0
when nothing is wrong, 1 otherwise, 2 when the checks themselves cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

try:
    import jsonschema
    import kubernetes_validate
    import yaml
    from dockerfile_parse import DockerfileParser
except ImportError as missing:  # pragma: no cover - depends on the environment
    sys.exit(f"check.py: {missing}; run it with the python of scripts/deploy-env")

ROOT = Path(__file__).resolve().parent.parent
# The Kubernetes version the manifests must be valid for: a release still widely run, which the
# pinned kubernetes-validate knows (scripts/deploy-env).
KUBERNETES_VERSION = "1.31.0"
NAMESPACE = "instadash"
# API groups whose kinds are validated with deploy/k8s/schemas/ rather than Kubernetes' schemas.
CUSTOM_GROUPS = {"rabbitmq.com"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
INSTADASH_IMAGE = "instadash"

# RabbitMQ's built-in guest credentials, in the forms a deployment file would carry them: a URL's
# user info, a user name setting, the broker's default_user/default_pass, "guest:guest".
GUEST_PATTERNS = [
    re.compile(r"://guest[:@]", re.IGNORECASE),
    re.compile(r"\bguest:guest\b", re.IGNORECASE),
    re.compile(r"\b(default_user|default_pass)\s*=\s*guest\b", re.IGNORECASE),
    re.compile(r"\b(RABBITMQ_DEFAULT_USER|RABBITMQ_DEFAULT_PASS|username|user)\b[\"']?\s*[:=]\s*[\"']?guest\b",
               re.IGNORECASE),
]


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    documents: int = 0

    def error(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")
        print(f"ERROR {where}: {message}", flush=True)

    def note(self, message: str) -> None:
        self.notes.append(message)
        print(f"note: {message}", flush=True)


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------ guest


def check_no_guest(report: Report, path: Path, text: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern in GUEST_PATTERNS:
            if pattern.search(line):
                report.error(f"{rel(path)}:{number}", f"uses RabbitMQ's guest credentials: {line.strip()}")
                break


# ---------------------------------------------------------------------------------- compose


def compose_command() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run(command + ["version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return command
    return None


def check_compose(report: Report, compose_file: Path) -> None:
    where = rel(compose_file)
    if not compose_file.is_file():
        report.error(where, "missing")
        return
    check_no_guest(report, compose_file, compose_file.read_text())
    command = compose_command()
    if command is None:
        report.error(where, "neither `docker compose` nor `docker-compose` works (run scripts/deploy-env)")
        return
    deploy_dir = compose_file.parent
    make_secrets = deploy_dir / "make-secrets.sh"
    with tempfile.TemporaryDirectory(prefix="instadash-compose-check-") as scratch:
        target = compose_file
        if make_secrets.is_file():
            # A copy of the repository's top level in which deploy/ is a real copy (without its
            # secrets) and everything else a symbolic link: relative paths in compose.yaml (build
            # contexts, config files) resolve as in the real tree, and the secrets that
            # make-secrets.sh writes land in the copy, which is then thrown away.
            copy_root = Path(scratch)
            for entry in deploy_dir.parent.iterdir():
                if entry.name in {deploy_dir.name, "target", ".git"}:
                    continue
                (copy_root / entry.name).symlink_to(entry)
            shutil.copytree(deploy_dir, copy_root / deploy_dir.name, symlinks=True,
                            ignore=shutil.ignore_patterns("secrets"))
            copied_script = copy_root / deploy_dir.name / "make-secrets.sh"
            made = subprocess.run(["bash", str(copied_script)], cwd=copy_root, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL, timeout=120)
            if made.returncode != 0:
                report.error(rel(make_secrets), f"failed ({made.returncode}): {made.stderr.strip() or made.stdout.strip()}")
                return
            target = copy_root / deploy_dir.name / compose_file.name
        result = subprocess.run(command + ["-f", str(target), "config"], cwd=target.parent,
                                capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    if result.returncode != 0:
        report.error(where, f"`{' '.join(command)} config` failed: {result.stderr.strip()}")
        return
    for warning in result.stderr.strip().splitlines():
        print(f"warning {where}: {warning}")
    check_no_guest(report, compose_file, result.stdout)
    print(f"ok {where}: `{' '.join(command)} config` succeeds")


# ------------------------------------------------------------------------------- dockerfile


def check_dockerfile(report: Report, dockerfile: Path, hadolint: Path | None) -> None:
    where = rel(dockerfile)
    if not dockerfile.is_file():
        report.error(where, "missing")
        return
    text = dockerfile.read_text()
    check_no_guest(report, dockerfile, text)
    if hadolint is None:
        report.error(where, "hadolint not found (run scripts/deploy-env)")
    else:
        # Errors fail the check; warnings and style notes are shown. A .hadolint.yaml at the
        # repository's root (hadolint reads it from the working directory) may tune the rules.
        lint = subprocess.run([str(hadolint), "--no-color", "--failure-threshold", "error", str(dockerfile)],
                              cwd=ROOT, capture_output=True, text=True)
        for line in lint.stdout.strip().splitlines():
            print(f"hadolint {line}")
        if lint.returncode != 0:
            report.error(where, f"hadolint reports errors (exit {lint.returncode}) {lint.stderr.strip()}")

    parser = DockerfileParser(path=str(dockerfile), cache_content=True)
    instructions = parser.structure
    stages = [i for i, ins in enumerate(instructions) if ins["instruction"] == "FROM"]
    if len(stages) < 2:
        report.error(where, "not a multi-stage build (the final image must not carry the build toolchain)")
    if not stages:
        return
    final = instructions[stages[-1]:]

    def last(name: str) -> dict | None:
        found = [ins for ins in final if ins["instruction"] == name]
        return found[-1] if found else None

    user = last("USER")
    if user is None:
        report.error(where, "the final stage sets no USER: the service would run as root")
    else:
        name = user["value"].split(":")[0].strip()
        if name in {"root", "0", ""}:
            report.error(f"{where}:{user['startline'] + 1}", f"the final stage runs as root (USER {user['value']})")
    entrypoint = last("ENTRYPOINT")
    if entrypoint is None:
        report.error(where, "the final stage has no ENTRYPOINT")
    else:
        value = entrypoint["value"].strip()
        try:
            program = json.loads(value)[0] if value.startswith("[") else value.split()[0]
        except (ValueError, IndexError):
            program = value
        if os.path.basename(str(program)) != "instadash":
            report.error(f"{where}:{entrypoint['startline'] + 1}", f"ENTRYPOINT is {value}, not instadash")
    health = last("HEALTHCHECK")
    if health is None:
        report.error(where, "the final stage has no HEALTHCHECK")
    elif health["value"].strip().upper() == "NONE":
        report.error(f"{where}:{health['startline'] + 1}", "HEALTHCHECK NONE")
    if not any(p.startswith(f"ERROR {where}") for p in report.problems):
        print(f"ok {where}: multi-stage, non-root USER, ENTRYPOINT instadash, HEALTHCHECK")


# -------------------------------------------------------------------------------------- k8s


@dataclass
class Document:
    path: Path
    index: int
    body: dict

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", "?"))

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata")
        return str(metadata.get("name", "?")) if isinstance(metadata, dict) else "?"

    @property
    def where(self) -> str:
        return f"{rel(self.path)}[{self.index}] {self.kind}/{self.name}"

    @property
    def spec(self) -> dict:
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}


def json_path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out or "."


def load_custom_schemas(schema_dir: Path) -> dict[str, dict]:
    schemas = {}
    for path in sorted(schema_dir.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        kind = schema["properties"]["kind"]["const"]
        schemas[(schema["properties"]["apiVersion"]["const"], kind)] = schema
    return schemas


def validate_schema(report: Report, doc: Document, custom: dict) -> None:
    api_version = str(doc.body.get("apiVersion", ""))
    group = api_version.split("/")[0] if "/" in api_version else ""
    if group in CUSTOM_GROUPS:
        schema = custom.get((api_version, doc.kind))
        if schema is None:
            report.error(doc.where, f"unknown kind {doc.kind} of {api_version}: no schema in deploy/k8s/schemas/")
            return
        validator = jsonschema.Draft202012Validator(schema)
        for problem in sorted(validator.iter_errors(doc.body), key=lambda e: list(e.absolute_path)):
            report.error(doc.where, f"{json_path(problem.absolute_path)}: {problem.message}")
        return
    try:
        kubernetes_validate.validate(doc.body, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        report.error(doc.where, f"unknown kind {doc.kind} of {api_version!r} in Kubernetes {KUBERNETES_VERSION}")
    except kubernetes_validate.ValidationError as problem:
        report.error(doc.where, f"{json_path(problem.path)}: {problem.message}")


def containers_of(doc: Document) -> tuple[dict, list[dict]]:
    template = doc.spec.get("template")
    pod = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(pod, dict):
        return {}, []
    containers = pod.get("containers")
    return pod, [c for c in containers if isinstance(c, dict)] if isinstance(containers, list) else []


def env_of(container: dict) -> dict[str, dict]:
    return {e.get("name"): e for e in container.get("env") or [] if isinstance(e, dict)}


def is_instadash(container: dict) -> bool:
    image = str(container.get("image", ""))
    name = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image.split("@")[0]
    return name.split("/")[-1] == INSTADASH_IMAGE


def check_workload(report: Report, doc: Document) -> None:
    pod, containers = containers_of(doc)
    if not containers:
        report.error(doc.where, "no containers in spec.template.spec")
        return
    pod_security = pod.get("securityContext") or {}
    for container in containers:
        where = f"{doc.where} container {container.get('name', '?')}"
        for probe in ("livenessProbe", "readinessProbe"):
            if not container.get(probe):
                report.error(where, f"no {probe}")
        resources = container.get("resources") or {}
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (resources.get(bound) or {}).get(resource):
                    report.error(where, f"no resources.{bound}.{resource}")
        security = container.get("securityContext") or {}
        if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
            report.error(where, "runAsNonRoot is not set (pod or container securityContext)")
        if security.get("allowPrivilegeEscalation") is not False:
            report.error(where, "securityContext.allowPrivilegeEscalation is not false")
        if security.get("readOnlyRootFilesystem") is not True:
            report.error(where, "securityContext.readOnlyRootFilesystem is not true")
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            report.error(where, "securityContext.capabilities.drop does not include ALL")
        if is_instadash(container):
            check_instadash_container(report, where, container)


def check_instadash_container(report: Report, where: str, container: dict) -> None:
    """Without these settings a service falls back to its local defaults: guest on localhost."""
    env = env_of(container)
    url = (env.get("AMQP_URL") or {}).get("value")
    if not url:
        report.error(where, "AMQP_URL is not set")
    else:
        if not url.startswith("amqps://"):
            report.error(where, f"AMQP_URL {url} is not amqps:// (TLS)")
        userinfo = url.split("://", 1)[-1].split("@", 1)[0] if "@" in url else ""
        if not userinfo:
            report.error(where, f"AMQP_URL {url} names no user")
        elif ":" in userinfo:
            report.error(where, "AMQP_URL carries a password: mount it as a file (AMQP_PASSWORD_FILE)")
    for required in ("AMQP_PASSWORD_FILE", "INSTADASH_TLS_CA_FILE"):
        if not (env.get(required) or {}).get("value"):
            report.error(where, f"{required} is not set")
    args = [str(a) for a in container.get("args") or []]
    if args[:2] == ["run", "monitor"] and "RABBITMQ_MANAGEMENT_URL" not in env:
        report.error(where, "the monitor needs RABBITMQ_MANAGEMENT_URL (its default is guest on localhost)")


def check_references(report: Report, docs: list[Document]) -> None:
    """Names that must resolve within the manifests: what kubectl apply would accept but the
    operators (or the pods) would then fail on."""
    by_kind: dict[str, dict[str, Document]] = {}
    for doc in docs:
        by_kind.setdefault(doc.kind, {})[doc.name] = doc
    clusters = set(by_kind.get("RabbitmqCluster", {}))
    users = by_kind.get("User", {})
    imported_secrets = {
        (u.spec.get("importCredentialsSecret") or {}).get("name") for u in users.values()
    }
    exchanges = {d.spec.get("name") for d in by_kind.get("Exchange", {}).values()}
    queues = {d.spec.get("name") for d in by_kind.get("Queue", {}).values()}
    for doc in docs:
        group = str(doc.body.get("apiVersion", "")).split("/")[0]
        if group in CUSTOM_GROUPS and doc.kind != "RabbitmqCluster":
            reference = doc.spec.get("rabbitmqClusterReference") or {}
            if "name" in reference and reference["name"] not in clusters:
                report.error(doc.where, f"rabbitmqClusterReference {reference['name']} is no RabbitmqCluster here")
        if doc.kind in {"Permission", "TopicPermission"}:
            user = (doc.spec.get("userReference") or {}).get("name")
            if user is not None and user not in users:
                report.error(doc.where, f"userReference {user} is no User here")
        if doc.kind == "Binding":
            source = doc.spec.get("source", "")
            if source and not source.startswith("amq.") and source not in exchanges:
                report.error(doc.where, f"source exchange {source} is declared by no Exchange here")
            destination = doc.spec.get("destination", "")
            known = queues if doc.spec.get("destinationType") == "queue" else exchanges
            if destination not in known:
                report.error(doc.where, f"destination {doc.spec.get('destinationType')} {destination} is declared here by none")
        if doc.kind == "HorizontalPodAutoscaler":
            target = doc.spec.get("scaleTargetRef") or {}
            if target.get("name") not in by_kind.get(target.get("kind", ""), {}):
                report.error(doc.where, f"scaleTargetRef {target.get('kind')}/{target.get('name')} is not defined here")
        if doc.kind in WORKLOAD_KINDS:
            pod, _ = containers_of(doc)
            volumes = [v for v in pod.get("volumes") or [] if isinstance(v, dict)]
            for volume in volumes:
                secret = str((volume.get("secret") or {}).get("secretName", ""))
                if secret.endswith("-credentials") and secret not in imported_secrets:
                    report.error(doc.where, f"mounts Secret {secret}, which no User imports (importCredentialsSecret)")
            for claim in volumes:
                name = (claim.get("persistentVolumeClaim") or {}).get("claimName")
                if name and name not in by_kind.get("PersistentVolumeClaim", {}):
                    report.error(doc.where, f"PersistentVolumeClaim {name} is not defined here")


def check_kustomization(report: Report, k8s_dir: Path, files: list[Path]) -> None:
    path = k8s_dir / "kustomization.yaml"
    if not path.is_file():
        report.error(rel(path), "missing")
        return
    try:
        kustomization = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as problem:
        report.error(rel(path), f"not YAML: {problem}")
        return
    listed = [str(r) for r in kustomization.get("resources") or []]
    for resource in listed:
        if not (k8s_dir / resource).exists():
            report.error(rel(path), f"lists {resource}, which does not exist")
    for file in files:
        if file.name not in listed:
            report.error(rel(path), f"does not list {file.name}")
    if kustomization.get("namespace") != NAMESPACE:
        report.error(rel(path), f"namespace is not {NAMESPACE}")
    if INSTADASH_IMAGE not in [i.get("name") for i in kustomization.get("images") or []]:
        report.error(rel(path), f"no images: entry for {INSTADASH_IMAGE} (the image must be configurable)")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        report.note("kubectl is not installed: `kubectl kustomize` was not run")
        return
    built = subprocess.run([kubectl, "kustomize", str(k8s_dir)], capture_output=True, text=True, timeout=120)
    if built.returncode != 0:
        report.error(rel(path), f"`kubectl kustomize` fails: {built.stderr.strip()}")
    else:
        count = sum(1 for body in yaml.safe_load_all(built.stdout) if body)
        print(f"ok {rel(path)}: `kubectl kustomize` builds {count} resources")


def check_k8s(report: Report, k8s_dir: Path) -> None:
    if not k8s_dir.is_dir():
        report.error(rel(k8s_dir), "missing")
        return
    try:
        custom = load_custom_schemas(k8s_dir / "schemas")
    except (OSError, ValueError, KeyError, jsonschema.SchemaError) as problem:
        report.error(rel(k8s_dir / "schemas"), f"unusable schema: {problem}")
        return
    files = sorted(p for p in k8s_dir.iterdir()
                   if p.suffix in {".yaml", ".yml"} and p.name != "kustomization.yaml")
    docs: list[Document] = []
    for path in files:
        text = path.read_text()
        check_no_guest(report, path, text)
        try:
            bodies = list(yaml.safe_load_all(text))
        except yaml.YAMLError as problem:
            report.error(rel(path), f"not YAML: {problem}")
            continue
        for index, body in enumerate(bodies):
            if body is None:
                continue
            report.documents += 1
            if not isinstance(body, dict) or "kind" not in body or "apiVersion" not in body:
                report.error(f"{rel(path)}[{index}]", "not a Kubernetes resource (apiVersion and kind)")
                continue
            doc = Document(path, index, body)
            docs.append(doc)
            validate_schema(report, doc, custom)
            namespace = (body.get("metadata") or {}).get("namespace")
            if namespace not in (None, NAMESPACE):
                report.error(doc.where, f"namespace {namespace}, not {NAMESPACE}")
            if doc.kind in WORKLOAD_KINDS:
                check_workload(report, doc)
    seen: dict[tuple, Document] = {}
    for doc in docs:
        key = (doc.body.get("apiVersion"), doc.kind, doc.name)
        if key in seen:
            report.error(doc.where, f"defined twice (also {seen[key].where})")
        seen[key] = doc
    check_references(report, docs)
    check_kustomization(report, k8s_dir, files)
    print(f"checked {len(files)} files under {rel(k8s_dir)}: {len(docs)} resources")


# ------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="compose,dockerfile,k8s",
                        help="comma-separated groups to run: compose, dockerfile, k8s (default: all)")
    parser.add_argument("--k8s-dir", type=Path, default=ROOT / "deploy" / "k8s")
    parser.add_argument("--compose-file", type=Path, default=ROOT / "deploy" / "compose.yaml")
    parser.add_argument("--dockerfile", type=Path, default=ROOT / "Dockerfile")
    args = parser.parse_args()
    groups = {g.strip() for g in args.only.split(",") if g.strip()}
    unknown = groups - {"compose", "dockerfile", "k8s"}
    if unknown:
        parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")

    report = Report()
    if "compose" in groups:
        check_compose(report, args.compose_file)
    if "dockerfile" in groups:
        hadolint = Path(sys.executable).parent / "hadolint"
        check_dockerfile(report, args.dockerfile, hadolint if hadolint.is_file() else
                         (Path(found) if (found := shutil.which("hadolint")) else None))
    if "k8s" in groups:
        check_k8s(report, args.k8s_dir)

    verdict = "FAILED" if report.problems else "ok"
    print(f"deploy check {verdict}: {len(report.problems)} problem(s) in {', '.join(sorted(groups))}"
          f" (Kubernetes {KUBERNETES_VERSION} schemas)")
    return 1 if report.problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.TimeoutExpired as timeout:
        print(f"check.py: {' '.join(map(str, timeout.cmd))} took longer than {timeout.timeout} s", file=sys.stderr)
        sys.exit(2)
