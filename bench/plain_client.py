"""The plain concurrent client of the cold-sync benchmark: sends the create requests for the
objects in a YAML stream (what `jobsync render` prints) to the apiserver, CONCURRENCY at a time,
and nothing else (no reads, no retries, no planning): the server's own limit for these requests.

    python plain_client.py KUBECONFIG OBJECTS.yaml [CONCURRENCY]

Runs with the Ray venv's Python, which has aiohttp and PyYAML. Prints the number of objects
created; exits 1 if any create failed.
"""
import asyncio
import base64
import ssl
import sys
import tempfile

import aiohttp
import yaml

PATHS = {("v1", "Namespace"): "/api/v1/namespaces",
         ("v1", "Service"): "/api/v1/namespaces/%s/services",
         ("batch/v1", "Job"): "/apis/batch/v1/namespaces/%s/jobs"}


def tls_context(config):
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    with tempfile.NamedTemporaryFile("w") as cert, tempfile.NamedTemporaryFile("w") as key:
        cert.write(base64.b64decode(user["client-certificate-data"]).decode())
        key.write(base64.b64decode(user["client-key-data"]).decode())
        cert.flush()
        key.flush()
        context.load_cert_chain(cert.name, key.name)
    return cluster["server"], context


async def main(kubeconfig, objects_file, concurrency):
    with open(kubeconfig) as f:
        server, context = tls_context(yaml.safe_load(f))
    with open(objects_file) as f:
        objects = [o for o in yaml.safe_load_all(f) if o]
    queue = asyncio.Queue()
    for o in objects:
        queue.put_nowait(o)
    failures = []
    connector = aiohttp.TCPConnector(ssl=context, limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker():
            while not queue.empty():
                o = queue.get_nowait()
                path = PATHS[(o["apiVersion"], o["kind"])]
                if o["kind"] != "Namespace":
                    path = path % o["metadata"]["namespace"]
                async with session.post(server + path, json=o) as response:
                    # Namespaces exist already (made before the clock starts), as for the others.
                    exists = response.status == 409 and o["kind"] == "Namespace"
                    if response.status >= 300 and not exists:
                        failures.append("%s %s: %s" % (o["kind"], o["metadata"]["name"],
                                                       (await response.text())[:200]))
                    else:
                        await response.read()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    for failure in failures[:5]:
        print(failure, file=sys.stderr)
    print(len(objects) - len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 16)))
