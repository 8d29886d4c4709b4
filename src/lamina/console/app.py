"""The console's routes under /console: server-rendered pages (Jinja2) and their htmx fragments.

Every page reads and acts through lamina.console.client.ApiClient, i.e. the same HTTP API a
script uses (Lambda, CloudWatch Logs, /system, /_lamina/test-events, /health), so whatever the
console does a script can do too. The routes themselves sit behind lamina's request pipeline like
every other route. Pages for the function's tabs live in lamina.console.function_pages, the lists of
code signing configurations and event source mappings in lamina.console.resource_pages.

With `--auth sigv4` (`sessions` given) the pipeline lets /console through unsigned and the console
asks for an access key pair once (/console/signin): the pair is proven by a signed STS
GetCallerIdentity, kept in server memory (lamina.console.sessions) under a random id sent only as an
HttpOnly, SameSite=Strict cookie, and every API call a page makes is signed with it, so authorization
allows the console exactly what that user may do. Without a live session every page (static files
aside) sends the browser to the sign-in page; /console/signout ends the session.
Imports lamina.console and lamina.blueprints only.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from pathlib import Path

import jinja2
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles

from lamina import blueprints
from lamina.console import function_pages, packages, resource_pages
from lamina.console.client import ApiClient, ApiError, Keys
from lamina.console.forms import (
    ROLE_SUFFIX,
    FormError,
    first,
    form_fields,
    lambda_can_assume,
    new_role_name,
    role_suffix,
)
from lamina.console.sessions import COOKIE, Sessions

HERE = Path(__file__).parent
PREFIX = "/console"
# "Create a new role with basic Lambda permissions", as the AWS console does it: a role under
# /service-role/ that Lambda may assume, with the AWS managed policy for writing logs attached.
SERVICE_ROLE_PATH = "/service-role/"
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
ARCHITECTURES = ("x86_64", "arm64")
SESSION = "lamina.console.session"  # the scope key of the signed-in session
OPEN_PATHS = (PREFIX + "/signin",)  # pages served without a session


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["prefix"] = PREFIX
    env.filters["size"] = human_size
    return env


def human_size(value: int | float | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


class Console:
    """The pages, rendering through one Jinja2 environment and acting through one ApiClient."""

    def __init__(self, client: ApiClient, sessions: Sessions | None = None) -> None:
        self.api = client
        self.sessions = sessions
        self.templates = environment()
        self.templates.globals["auth"] = sessions is not None

    def render(self, template_name: str, /, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(self.templates.get_template(template_name).render(**context), status_code=status)

    def fragment_error(self, error: Exception) -> HTMLResponse:
        message = f"{error.code}: {error.message}" if isinstance(error, ApiError) else str(error)
        return self.render("error_fragment.html", message=message)

    def who(self, request: Request) -> dict:
        """The client address and (with auth) the signed-in user's keys, for an API call."""
        session = request.scope.get(SESSION)
        keys = Keys(session.access_key_id, session.secret_access_key, session.session_token) if session else None
        return {"client": request.client and tuple(request.client), "credentials": keys}

    async def call(self, request: Request, operation: str, params: dict | None = None, service: str = "lambda"):
        return await self.api.call(service, operation, params, **self.who(request))

    async def available(self, request: Request, operation: str, params: dict | None = None,
                        service: str = "lambda"):
        return await self.api.available(service, operation, params, **self.who(request))

    async def get(self, request: Request, path: str, query: dict | None = None):
        return await self.api.get(path, query, **self.who(request))

    async def send(self, request: Request, method: str, path: str, document=None):
        return await self.api.send(method, path, document, **self.who(request))

    async def every(self, request: Request, operation: str, key: str, params: dict | None = None, *,
                    optional: bool = False) -> list[dict] | None:
        """Every item (under `key`) of a Marker/NextMarker list operation; with `optional`, None when this
        server lacks the operation."""
        fetch = self.available if optional else self.call
        items: list[dict] = []
        marker = None
        while True:
            page = await fetch(request, operation, {**(params or {}), **({"Marker": marker} if marker else {})})
            if page is None:
                return None
            items += page.get(key, [])
            marker = page.get("NextMarker")
            if not marker:
                return items

    async def all_functions(self, request: Request) -> list[dict]:
        return await self.every(request, "ListFunctions", "Functions") or []

    # -- pages ---------------------------------------------------------------------------------

    async def home(self, _: Request) -> Response:
        return RedirectResponse(PREFIX + "/functions", status_code=303)

    async def functions(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip().lower()
        listed = await self.all_functions(request)
        shown = [f for f in listed if query in f["FunctionName"].lower()] if query else listed
        shown.sort(key=lambda f: f["FunctionName"])
        # Rows as plain tuples: the template unpacks them instead of looking up 7 keys per row (a
        # Jinja attribute lookup on a dict costs a failed getattr first; 1,000 rows is 7,000 of them),
        # the name escaped once for its four uses.
        rows = [(escape(f["FunctionName"]), f.get("Runtime") or f.get("PackageType", ""), ", ".join(f.get("Architectures", ())),
                 f.get("MemorySize", ""), f.get("State") or "Active", f.get("LastModified", "")[:19].replace("T", " "),
                 human_size(f.get("CodeSize"))) for f in shown]
        return self.render("functions.html", rows=rows, total=len(listed), query=query,
                           flash=request.query_params.get("flash", ""))

    async def delete_functions(self, request: Request) -> Response:
        fields = form_fields(await request.body())
        names = fields.get("name", [])
        delete_logs = first(fields, "delete_logs") == "on"
        problems = []
        for name in names:
            try:
                await self.call(request, "DeleteFunction", {"FunctionName": name})
                if delete_logs:
                    try:
                        await self.call(request, "DeleteLogGroup", {"logGroupName": f"/aws/lambda/{name}"}, "logs")
                    except ApiError as error:
                        if error.code != "ResourceNotFoundException":
                            raise
            except ApiError as error:
                problems.append(f"{name}: {error.code}: {error.message}")
        flash = "; ".join(problems) or f"Deleted {len(names)} function{'s' if len(names) != 1 else ''}" + (
            " and their log groups." if delete_logs else ".")
        return RedirectResponse(f"{PREFIX}/functions?" + urllib.parse.urlencode({"flash": flash}), status_code=303)

    async def create_page(self, request: Request) -> Response:
        return await self._create_form(request, {}, None)

    async def _create_form(self, request: Request, values: dict, error: str | None) -> Response:
        health, (roles, roles_problem) = await asyncio.gather(self.get(request, "/health"), self._lambda_roles(request))
        runtimes = [{"runtime": r, "problem": p} for r, p in health.get("runtimes", {}).items()]
        return self.render("create.html", runtimes=runtimes, architectures=ARCHITECTURES,
                           blueprints=blueprints.all_blueprints(), values=values, error=error,
                           roles=roles, roles_problem=roles_problem, role_suffix=role_suffix(),
                           role_path=SERVICE_ROLE_PATH,
                           chosen=request.query_params.get("blueprint", values.get("blueprint", "")),
                           status=400 if error else 200)

    async def _lambda_roles(self, request: Request) -> tuple[list[dict] | None, str | None]:
        """The account's roles Lambda may assume (ListRoles, every page), by name; (None, why) when
        the signed-in user may not list roles, so the page asks for an ARN instead."""
        roles: list[dict] = []
        marker = None
        try:
            while True:
                page = await self.call(request, "ListRoles", {"MaxItems": 1000, **({"Marker": marker} if marker else {})},
                                       service="iam")
                roles += [r for r in page.get("Roles", []) if lambda_can_assume(r.get("AssumeRolePolicyDocument"))]
                marker = page.get("Marker") if page.get("IsTruncated") else None
                if not marker:
                    break
        except ApiError as error:
            return None, f"{error.code}: {error.message}"
        return sorted(roles, key=lambda r: r["RoleName"].lower()), None

    async def create(self, request: Request) -> Response:
        fields = form_fields(await request.body())
        values = {k: first(fields, k) for k in ("mode", "name", "runtime", "architecture", "role_mode", "role",
                                                "existing_role", "role_suffix", "blueprint")}
        new_role = None
        try:
            params = await self._create_params(request, values)
            if values["role_mode"] != "existing":
                await self._check_function_name(request, params["FunctionName"])
                suffix = values["role_suffix"] if ROLE_SUFFIX.fullmatch(values["role_suffix"]) else role_suffix()
                name = new_role_name(params["FunctionName"], suffix)
                # As the signed-in user (iam:CreateRole, iam:AttachRolePolicy): a role Lambda may
                # assume, under /service-role/, with AWSLambdaBasicExecutionRole attached.
                created = await self.call(request, "CreateRole", {"RoleName": name, "Path": SERVICE_ROLE_PATH,
                                                                  "AssumeRolePolicyDocument": LAMBDA_TRUST}, service="iam")
                new_role = name
                await self.call(request, "AttachRolePolicy", {"RoleName": name, "PolicyArn": BASIC_EXECUTION_POLICY},
                                service="iam")
                params["Role"] = created["Role"]["Arn"]
            await self.call(request, "CreateFunction", params)
        except (ApiError, FormError) as error:
            message = f"{error.code}: {error.message}" if isinstance(error, ApiError) else str(error)
            if new_role is not None:
                message += await self._discard_role(request, new_role)
            return await self._create_form(request, values, message)
        if values["mode"] == "blueprint":
            blueprint = blueprints.get(values["blueprint"])
            assert blueprint is not None
            try:  # the blueprint's default test event is saved with the function, as "default"
                await self.send(request, "PUT", f"/_lamina/test-events/{values['name']}/default",
                                {"Event": json.dumps(blueprint.event, indent=2)})
            except ApiError:
                pass  # the function exists; a missing default event is not worth failing the create
        return RedirectResponse(f"{PREFIX}/functions/{values['name']}/code", status_code=303)

    async def _check_function_name(self, request: Request, name: str) -> None:
        """Before a role is made for it: Lambda's own answer to a name it would refuse (its validation
        error), so a bad name is reported as the function's, not as the role's. A missing function
        (the usual case) or a user who may not read functions goes on to the create."""
        try:
            await self.call(request, "GetFunctionConfiguration", {"FunctionName": name})
        except ApiError as error:
            if error.code != "ResourceNotFoundException" and error.status != 403:
                raise

    async def _discard_role(self, request: Request, name: str) -> str:
        """The function was not created: the role made for it goes again (detached, deleted), so a
        failed create leaves nothing behind; what to add to the message about it."""
        try:
            attached = await self.call(request, "ListAttachedRolePolicies", {"RoleName": name}, service="iam")
            for policy in attached.get("AttachedPolicies", []):
                await self.call(request, "DetachRolePolicy", {"RoleName": name, "PolicyArn": policy["PolicyArn"]},
                                service="iam")
            await self.call(request, "DeleteRole", {"RoleName": name}, service="iam")
        except ApiError as error:
            return f" The role {name} created for it is left in place ({error.code}: {error.message})."
        return f" The role {name} created for it was deleted."

    async def _create_params(self, request: Request, values: dict) -> dict:
        name = values["name"].strip()
        if not name:
            raise FormError("Give the function a name.")
        role = ""
        if values["role_mode"] == "existing":
            role = values["role"].strip() or values["existing_role"].strip()
            if not role:
                raise FormError("Choose an existing role or enter its ARN.")
        architecture = values["architecture"] if values["architecture"] in ARCHITECTURES else "x86_64"
        if values["mode"] == "blueprint":
            blueprint = blueprints.get(values["blueprint"])
            if blueprint is None:
                raise FormError("Choose a blueprint.")
            runtime, handler, code = blueprint.runtime, blueprint.handler, blueprint.zip()
        else:
            runtime = values["runtime"]
            handler, code = packages.starter(runtime)
        return {"FunctionName": name, "Runtime": runtime, "Handler": handler, "Role": role,
                "Architectures": [architecture], "Code": {"ZipFile": code}}

    async def layers(self, request: Request) -> Response:
        listed = await self.call(request, "ListLayers")
        return self.render("layers.html", layers=listed.get("Layers", []))

    async def account(self, request: Request) -> Response:
        settings, functions = await asyncio.gather(self.call(request, "GetAccountSettings"),
                                                   self.all_functions(request))
        return self.render("account.html", settings=settings, functions=len(functions))

    # -- signing in (auth on) -------------------------------------------------------------------

    async def signin_page(self, request: Request) -> Response:
        return self.render("signin.html", signin=True, next=_next(request.query_params.get("next", "")),
                           access_key_id="", error=None)

    async def signin(self, request: Request) -> Response:
        fields = form_fields(await request.body())
        key, secret = first(fields, "access_key_id").strip(), first(fields, "secret_access_key")
        token = first(fields, "session_token").strip() or None
        target = _next(first(fields, "next"))
        keys = Keys(key, secret, token)
        try:  # a real signed call proves the pair
            if not key or not secret:
                raise ApiError("MissingAuthenticationToken", "Enter an access key ID and its secret access key.", 400)
            identity = await self.api.call("sts", "GetCallerIdentity", {}, client=request.client and tuple(request.client),
                                           credentials=keys)
        except ApiError as error:
            return self.render("signin.html", status=403 if error.status != 400 else 400, signin=True, next=target,
                               access_key_id=key, error=f"Sign-in refused: {error.code}: {error.message}")
        assert self.sessions is not None
        session_id = self.sessions.open(key, secret, token, identity.get("Arn", ""))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, session_id, path=PREFIX, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    async def signout(self, request: Request) -> Response:
        if self.sessions is not None:
            self.sessions.close(request.cookies.get(COOKIE))
        response = RedirectResponse(PREFIX + "/signin", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    async def server(self, request: Request) -> Response:
        health = await self.get(request, "/health")
        return self.render("server.html", health=health, now=time.time())


def cross_site(method: str, headers, host: str) -> bool:
    """Whether a request that changes something comes from another site's page (a forged form post):
    the browser says so in Sec-Fetch-Site, or its Origin names another host."""
    if method in ("GET", "HEAD"):
        return False
    if headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = headers.get("origin")
    return bool(origin) and origin != "null" and urllib.parse.urlsplit(origin).netloc != host


def _next(target: str) -> str:
    """Where to go after signing in: a console page only (never another site)."""
    if target.startswith(PREFIX + "/") and not target.startswith(PREFIX + "/signin") and "//" not in target \
            and "\\" not in target:
        return target
    return PREFIX + "/functions"


def _to_signin(request: Request) -> Response:
    """No live session: the browser goes to the sign-in page (htmx follows HX-Redirect)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = PREFIX + "/signin?" + urllib.parse.urlencode({"next": here if request.method == "GET" else ""})
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _answering_errors(console: Console, endpoint, *, open_page: bool = False):
    """An endpoint whose API errors become an error page with the API's status (a missing
    function is a 404 page naming it), never lamina's internal error; which refuses changes
    posted from another site's page; and which, with auth on, needs a signed-in session."""

    async def page(request: Request) -> Response:
        if cross_site(request.method, request.headers, request.headers.get("host", "")):
            return console.render("error.html", status=403, code="Forbidden",
                                  message="The console does not accept changes posted from another site's page.")
        if console.sessions is not None and not open_page:
            session = console.sessions.get(request.cookies.get(COOKIE))
            if session is None:
                return _to_signin(request)
            request.scope[SESSION] = session
        try:
            return await endpoint(request)
        except ApiError as error:
            return console.render("error.html", status=error.status if 400 <= error.status < 600 else 500,
                                  code=error.code, message=error.message)

    return page


def console_routes(client: ApiClient, sessions: Sessions | None = None) -> list[BaseRoute]:
    """The console's routes; with `sessions` (auth on) behind its sign-in."""
    console = Console(client, sessions)
    pages = function_pages.FunctionPages(console)
    resources = resource_pages.ResourcePages(console)
    routes = [
        Route(PREFIX, console.home, methods=["GET"]),
        Route(PREFIX + "/", console.home, methods=["GET"]),
        Mount(PREFIX + "/static", app=StaticFiles(directory=HERE / "static"), name="console-static"),
        Route(PREFIX + "/functions", console.functions, methods=["GET"]),
        Route(PREFIX + "/functions/delete", console.delete_functions, methods=["POST"]),
        Route(PREFIX + "/create", console.create_page, methods=["GET"]),
        Route(PREFIX + "/create", console.create, methods=["POST"]),
        Route(PREFIX + "/layers", console.layers, methods=["GET"]),
        *resources.routes(PREFIX),
        Route(PREFIX + "/account", console.account, methods=["GET"]),
        Route(PREFIX + "/server", console.server, methods=["GET"]),
        *pages.routes(PREFIX + "/functions/{name}"),
    ]
    if sessions is not None:
        routes += [Route(PREFIX + "/signin", console.signin_page, methods=["GET"]),
                   Route(PREFIX + "/signin", console.signin, methods=["POST"]),
                   Route(PREFIX + "/signout", console.signout, methods=["POST"])]
    for route in routes:
        if isinstance(route, Route):
            route.app = request_response(_answering_errors(console, route.endpoint,
                                                           open_page=route.path in OPEN_PATHS))
    return routes
