"""Turns deploy/kubernetes into what `podman kube play` (Podman 4.3, Debian 12) can run on one
test machine, for scripts/kube-test. Every change is listed here and printed, so the test says
exactly where it departs from the manifests a cluster gets:

- kept as they are: the ConfigMap's popgate.toml (but its addresses), the Deployment's pod
  spec (user, group, read-only root filesystem, dropped capabilities, volume mounts, the
  termination grace period, the probes' paths and ports)
- addresses: listeners and metrics move to free loopback ports, the backend to the test's
  Dovecot; the pod uses the host's network (hostNetwork), so no bridge or NAT is set up, and
  the container's `ports` list goes (Podman refuses port mappings on the host's network)
- replicas: 1, since pods on the host's network would share its ports (SO_REUSEPORT works for
  the listeners, not for the metrics port)
- Secrets become ConfigMaps with the same keys: Podman 4.3 crashes on a Deployment's secret
  volume (its kube play passes no secrets manager); their files are made world-readable since
  Podman ignores fsGroup, which is what lets the pod's group read them in a cluster
- the liveness probe runs `popgate --healthcheck`: Podman runs an httpGet probe as curl inside
  the container, and the image has no curl. Podman ignores readiness probes and preStop hooks
- not played: the Services (Podman has no Service kind) and Redis (no image can be pulled
  here), so the `[policy.ban] redis` line goes and the replica bans on its own

usage: kube_test_manifests.py DEPLOY_DIR OUT IMAGE POP3S POP3 METRICS BACKEND CERT KEY TICKETS
"""

import base64
import sys
import tomllib

import yaml


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(docs, kind, name):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"want one {kind} {name}, found {len(found)}"
    return found[0]


def render_config(text, ports, backend):
    """popgate.toml with the test's addresses; fails if the manifest's shape changed."""
    binds = {"0.0.0.0:1995": f"127.0.0.1:{ports[0]}", "0.0.0.0:1110": f"127.0.0.1:{ports[1]}",
             "0.0.0.0:9110": f"127.0.0.1:{ports[2]}"}
    for old, new in binds.items():
        assert f'"{old}"' in text, f"popgate.toml no longer binds {old}"
        text = text.replace(f'"{old}"', f'"{new}"')
    config = tomllib.loads(text)
    old_servers = config["backend"][0]["servers"]
    line = "servers = [" + ", ".join(f'"{s}"' for s in old_servers) + "]"
    assert line in text, f"cannot find {line!r} in popgate.toml"
    text = text.replace(line, f'servers = ["{backend}"]')
    redis = f'redis = "{config["policy"]["ban"]["redis"]}"\n'
    assert redis in text, f"cannot find {redis!r} in popgate.toml"
    text = text.replace(redis, "")
    tomllib.loads(text)  # still valid TOML
    return text


def secret_as_configmap(secret, files):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": secret["metadata"]["name"]},
            "binaryData": {k: base64.b64encode(open(files[k], "rb").read()).decode()
                           for k in secret["stringData"]}}


def main(argv):
    deploy, out, image, pop3s, pop3, metrics, backend, cert, key, tickets = argv[1:]
    config_map = one(load(f"{deploy}/configmap.yaml"), "ConfigMap", "popgate-config")
    secrets = load(f"{deploy}/secrets.yaml")
    deployment = one(load(f"{deploy}/deployment.yaml"), "Deployment", "popgate")

    config_map["data"]["popgate.toml"] = render_config(
        config_map["data"]["popgate.toml"], (pop3s, pop3, metrics), backend)
    files = {"tls.crt": cert, "tls.key": key, "tickets.key": tickets}
    test_secrets = [secret_as_configmap(one(secrets, "Secret", n), files)
                    for n in ("popgate-tls", "popgate-ticket-keys")]

    deployment["spec"]["replicas"] = 1
    pod = deployment["spec"]["template"]["spec"]
    pod["hostNetwork"] = True
    (container,) = pod["containers"]
    container["image"] = image
    del container["ports"]
    container["livenessProbe"] = {
        "exec": {"command": ["popgate", "--healthcheck", "-c", "/etc/popgate/config/popgate.toml"]},
        "periodSeconds": container["livenessProbe"]["periodSeconds"],
        "failureThreshold": container["livenessProbe"]["failureThreshold"]}
    for volume in pod["volumes"]:
        if "secret" in volume:
            volume["configMap"] = {"name": volume.pop("secret")["secretName"], "defaultMode": 0o444}

    with open(out, "w") as f:
        yaml.safe_dump_all([config_map, *test_secrets, deployment], f, sort_keys=False)
    print(__doc__.split("\n\n")[1].strip())


if __name__ == "__main__":
    main(sys.argv)
