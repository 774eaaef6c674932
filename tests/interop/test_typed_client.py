"""A TypeScript frontend's typed client, generated from the running API's /openapi.json.

The frontend guide's generator command (docs/frontend.md: openapi-typescript with its default
options, as a new user runs it) writes the types from a live API. `tsc --strict` must then accept
`interop/typed-client/src/client.ts`, which calls every `/api` route through openapi-fetch with
the fields a frontend sends, and the guide's own usage example. The compiled client runs
against the API with a token from a real Better Auth, and checks every status it gets.
"""

import json
import re
import shlex
import shutil
from pathlib import Path

import httpx

from tests.interop.conftest import (
    FRONTEND_GUIDE,
    FRONTEND_GUIDE_HEADING,
    HTTP_TIMEOUT,
    NodeProject,
    running_api,
    running_better_auth,
)

TYPED_CLIENT_HEADING = "### 5. Typed client"
# The API's address in the guide's examples, replaced by the running API's.
EXAMPLE_API_URL = "https://api.example.com"
# What the guide's usage example takes from the section's earlier examples.
USAGE_CONTEXT = "declare const API_URL: string;\ndeclare const token: string;\n"


def guide_typed_client() -> tuple[list[str], str]:
    """The guide's generator command (without `npx`) and its ```ts usage example."""
    section = FRONTEND_GUIDE.read_text().partition(FRONTEND_GUIDE_HEADING)[2].partition("\n## ")[0]
    part = section.partition(TYPED_CLIENT_HEADING)[2]
    command = re.search(r"^npx (openapi-typescript .*)$", part, re.MULTILINE)
    usage = re.search(r"```ts\n(.*?)```", part, re.DOTALL)
    assert command, (
        f"{FRONTEND_GUIDE.name} has no openapi-typescript command under {TYPED_CLIENT_HEADING!r}"
    )
    assert usage, f"{FRONTEND_GUIDE.name} has no ```ts example under {TYPED_CLIENT_HEADING!r}"
    arguments = shlex.split(command.group(1))
    assert any(EXAMPLE_API_URL in argument for argument in arguments), arguments
    return arguments, usage.group(1)


def frontend_checkout(project: NodeProject, directory: Path) -> NodeProject:
    """A copy of the project's sources, using its installed node_modules, to build in."""
    shutil.copytree(
        project.directory,
        directory,
        ignore=shutil.ignore_patterns("node_modules", "dist", "api.d.ts"),
    )
    (directory / "node_modules").symlink_to(project.directory / "node_modules")
    return NodeProject(project.node, directory)


def test_a_typed_client_generated_from_the_live_openapi_compiles_strictly_and_gets_every_status(
    typed_client_project: NodeProject, node_project: NodeProject, tmp_path: Path
) -> None:
    generator, usage = guide_typed_client()
    frontend = frontend_checkout(typed_client_project, tmp_path / "frontend")
    (frontend.directory / "src" / "guide-usage.ts").write_text(USAGE_CONTEXT + usage)

    with (
        running_better_auth(node_project) as better_auth,
        running_api(tmp_path / "api", {"BETTER_AUTH_URL": better_auth.url}) as api,
    ):
        command = [argument.replace(EXAMPLE_API_URL, api.url) for argument in generator]
        frontend.run_script(f"node_modules/.bin/{command[0]}", *command[1:], env={})
        # Fails with tsc's own report on any type error; emits dist/ only when there is none.
        frontend.run_script("node_modules/typescript/bin/tsc", "--strict", "--project", ".", env={})

        user = better_auth.sign_up("tess")
        output = frontend.run_script(
            "dist/client.js", env={"TODO_API_URL": api.url, "TODO_API_TOKEN": user.token()}
        )
        document = httpx.get(f"{api.url}/openapi.json", timeout=HTTP_TIMEOUT).json()

    outcome = json.loads(output)
    calls, results = outcome["calls"], outcome["results"]
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        if path.startswith("/api/")
        for method in item
    }
    succeeded = {(call["method"], call["path"]) for call in calls if call["status"] < 300}
    assert operations - succeeded == set(), "routes the typed client never called successfully"
    assert {call["status"] for call in calls} == {200, 201, 204, 304, 403, 404, 412}

    milk, bread = results["milk"], results["bread"]
    assert results["user_id"] == user.id
    assert (milk["title"], milk["description"], milk["completed"]) == ("Buy milk", None, False)
    assert (bread["title"], bread["description"]) == ("Buy bread", "Sourdough")
    assert results["listed"] == [bread["id"], milk["id"]]
    assert (results["renamed"], results["described"]) == ("Buy oat milk", "2 litres")
    assert results["edited"] == ["Oat milk", "2 litres", 1]
    assert (results["toggled"], results["completed"]) == (True, True)
    assert results["staleTitle"] == "Precondition Failed"
    assert results["compatListed"] == [bread["id"]]
    assert results["remaining"] == 1
