"""Assembles the local stack from template.yaml and runs it until stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ctibridge_local import (
    api_forward,
    aws_calls,
    dev_login,
    fault_proxy,
    http_gateway,
    openapi,
    pbx_simulator,
    powertools_isolation,
    resources,
    state_file,
    ws_gateway,
)
from ctibridge_local.lambdas import Functions
from ctibridge_local.moto_backend import MotoServer, wait_for_port
from ctibridge_local.resolve import ACCOUNT_ID, REGION, LocalNames
from ctibridge_local.sip import server as sip_server
from ctibridge_local.sqs_poller import QueuePoller
from ctibridge_local.template import PROJECT_ROOT, TEMPLATE_PATH, Template, parse

logger = logging.getLogger(__name__)
# Time stop() gives the pollers and servers to finish what they are doing (moto is stopped after).
STOP_SECONDS = 2.0
TABLE_TYPE = "AWS::DynamoDB::Table"
WEBPHONE_DIR = PROJECT_ROOT / "webphone"


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    http_port: int = 3000
    ws_port: int = 3001
    web_port: int = 8080
    moto_port: int = 5000
    pbx_port: int = 3002  # the PBX simulator (recordings, click2call.php)
    seed_demo: bool = True
    template_path: Path = TEMPLATE_PATH
    parameters: dict[str, str] = field(default_factory=dict)
    # Settings only the local stack needs (e.g. hosts the SSRF guard may reach on loopback).
    extra_env: dict[str, str] = field(default_factory=dict)
    moto_log: Path | None = None
    # Count the functions' AWS calls (botocore hooks), served at {web_url}/_local/aws-calls (bench).
    count_aws_calls: bool = False
    # Put a fault proxy between the functions and moto, switched at {web_url}/_local/aws-faults (the
    # hardening tests make AWS down or throttling with it; see fault_proxy).
    fault_proxy: bool = False
    # The SIP side (Kamailio, rtpengine, the simulated customers' baresip): "auto" starts it when its
    # programs are installed, "off" never does.
    sip: str = "auto"
    sip_dir: Path | None = None  # default: a temporary directory, removed at stop


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.moto = MotoServer(config.host, config.moto_port, config.moto_log)
        self.template: Template = parse(config.template_path)
        self.stage = config.parameters.get("Stage") or self.template.parameter_defaults().get("Stage", "dev")
        self.names = self._local_names()
        self.functions: Functions | None = None
        self.fault_proxy: fault_proxy.FaultProxyProcess | None = None
        self.websocket: ws_gateway.WebSocketGateway | None = None
        self.pollers: list[QueuePoller] = []
        self.sip: sip_server.SipServer | None = None
        self.sip_missing: list[str] = []  # Debian packages the SIP side needs and does not find
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: dict[str, uvicorn.Server] = {}
        self._tasks: dict[str, asyncio.Future[Any]] = {}
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ URLs
    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.config.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.config.ws_port}/{self.stage}"

    @property
    def callback_url(self) -> str:
        return f"http://{self.config.host}:{self.config.ws_port}/{self.stage}"

    @property
    def web_url(self) -> str:
        return f"http://{self.config.host}:{self.config.web_port}"

    @property
    def pbx_url(self) -> str:
        return f"http://{self.config.host}:{self.config.pbx_port}"

    @property
    def web_origins(self) -> list[str]:
        return [self.web_url, f"http://localhost:{self.config.web_port}"]

    def _local_names(self) -> LocalNames:
        parameters = {**self.template.parameter_defaults(), "Stage": self.stage, **self.config.parameters}
        parameters.setdefault("CorsAllowOrigin", self.web_url)
        names = LocalNames(parameters=parameters, conditions=self.template.raw.get("Conditions", {}))
        for logical_id, api_id in (("HttpApi", http_gateway.API_ID), ("WebSocketApi", ws_gateway.API_ID)):
            names.refs[logical_id] = api_id
        for logical_id in self.template.resources_of_type("AWS::ApiGatewayV2::Api"):
            names.refs[logical_id] = ws_gateway.API_ID
        for logical_id in self.template.functions:
            names.refs[logical_id] = logical_id
            names.attributes[(logical_id, "Arn")] = (
                f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{logical_id}"
            )
        for logical_id in self.template.resources_of_type("AWS::Serverless::LayerVersion"):
            names.refs[logical_id] = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{logical_id}:1"
        aws_host = rf"{REGION}\.amazonaws\.com"
        names.url_rewrites = [
            (
                re.compile(rf"https://{ws_gateway.API_ID}\.execute-api\.{aws_host}"),
                self.callback_url.rsplit("/", 1)[0],
            ),
            (
                re.compile(rf"wss://{ws_gateway.API_ID}\.execute-api\.{aws_host}"),
                self.ws_url.rsplit("/", 1)[0],
            ),
            (re.compile(rf"https://{http_gateway.API_ID}\.execute-api\.{aws_host}"), self.http_url),
        ]
        return names

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.moto.start()
        aws_endpoint = self.moto.url
        if self.config.fault_proxy:
            # The whole process's AWS_ENDPOINT_URL is the proxy, so every client the functions create,
            # whenever and however (ctibridge.aws, Powertools' secrets provider, a cached one), goes
            # through it: none can slip past a fault. The stack's own plumbing passes moto's URL
            # explicitly and stays direct: creating the resources, and the SQS pollers, which stand in
            # for Lambda's event-source mappings (AWS's machinery, not our code): they keep handing
            # messages to the functions, which meet the fault as they would on AWS. Demo seeding runs
            # before any fault can be switched on, so it may go through the proxy (in pass mode).
            self.fault_proxy = fault_proxy.FaultProxyProcess(self.config.host, self.moto.host, self.moto.port)
            self.fault_proxy.start()
            aws_endpoint = self.fault_proxy.url
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": aws_endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        resources.create_all(self.template, self.names, self.moto.url)
        os.environ.update(self.function_environment())
        os.environ.update(self.config.extra_env)
        self._put_layers_on_path()
        # Invocations run concurrently on threads here, one at a time on Lambda: isolate Powertools' state.
        powertools_isolation.install()
        self.functions = Functions(self.template.functions)
        self.functions.warm_up()
        if self.config.count_aws_calls:
            aws_calls.install()
        if self.config.seed_demo:
            self._seed_demo()
            self._connect_demo_to_pbx_simulator()
            self._start_sip_side()
        self._start_servers()
        for mapping in self.template.queue_mappings:
            poller = QueuePoller(
                mapping,
                self.functions[mapping.function],
                queue_url=self.names.ref(mapping.queue),
                queue_arn=self.names.get_att(mapping.queue, "Arn"),
                endpoint_url=self.moto.url,
            )
            poller.start()
            self.pollers.append(poller)

    def stop(self) -> None:
        """Stop everything within ~2 s: every part is told at once, then waited for against one deadline."""
        deadline = time.monotonic() + STOP_SECONDS
        for poller in self.pollers:
            poller.signal_stop()  # a worker finishes its current poll (WaitTimeSeconds=1) and ends
        for server in self._servers.values():
            server.should_exit = True
        for poller in self.pollers:
            poller.stop(timeout=max(0.0, deadline - time.monotonic()))
        if self._thread:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self.fault_proxy is not None:
            self.fault_proxy.stop()
        if self.sip is not None:
            self.sip.stop()
            self.sip = None
        self.moto.stop()

    def published_state(self) -> state_file.LocalStackState:
        """What ``ctibridge --local`` needs to reach this stack (written to the state file by __main__)."""
        return state_file.LocalStackState(
            pid=os.getpid(),
            http_url=self.http_url,
            ws_url=self.ws_url,
            callback_url=self.callback_url,
            web_url=self.web_url,
            pbx_url=self.pbx_url,
            aws_endpoint_url=self.moto.url,
            region=REGION,
            # A template without the app's table (the tests' echo app) publishes none.
            table=self.names.ref("Table") if "Table" in self.template.resources_of_type(TABLE_TYPE) else "",
            stage=self.stage,
            queue_urls={
                logical_id: self.names.ref(logical_id)
                for logical_id in self.template.resources_of_type("AWS::SQS::Queue")
            },
        )

    def function_environment(self) -> dict[str, str]:
        """The union of every function's resolved environment; the functions share this process."""
        merged: dict[str, str] = {}
        for function in self.template.functions.values():
            for key, value in self.names.resolve(function.environment).items():
                if key in merged and merged[key] != str(value):
                    raise ValueError(
                        f"{key} differs between functions; the local stack runs them in one process"
                    )
                merged[key] = str(value)
        return merged

    def _put_layers_on_path(self) -> None:
        root = self.config.template_path.parent
        for res in self.template.resources_of_type("AWS::Serverless::LayerVersion").values():
            path = str((root / res["Properties"]["ContentUri"]).resolve())
            if path not in sys.path:
                sys.path.insert(0, path)

    def _seed_demo(self) -> None:
        from ctibridge_cli.demo import seed_demo_tenant

        seed_demo_tenant(table_name=self.names.ref("Table"), stage=self.stage)

    def _connect_demo_to_pbx_simulator(self) -> None:
        # The demo tenant's PBX is the simulator: click-to-call goes to it, and its recordings may be
        # fetched although it is on loopback. Allowed by the tenant's config, as for any on-premises PBX.
        from ctibridge.tenants.repository import TenantRepository
        from ctibridge_cli.demo import DEMO_ALLOWED_ORIGINS, DEMO_CUSTOMER

        host = f"{self.config.host}:{self.config.pbx_port}"
        TenantRepository(self.names.ref("Table")).update_tenant(
            DEMO_CUSTOMER,
            {
                "recording_hosts_allowed": [host],
                "pbx_click2call_url": f"{self.pbx_url}/wsapi/{DEMO_CUSTOMER}/click2call.php",
                # The demo CRM pages ({web_url}/demo-crm/) embed the webphone from this stack's web port.
                "allowed_origins": list(dict.fromkeys([*DEMO_ALLOWED_ORIGINS, *self.web_origins])),
            },
        )

    def _start_sip_side(self) -> None:
        """Kamailio + rtpengine + the simulated customers for the demo tenant's agents, and the tenant's
        webphone settings pointed at them, so the webphone registers (nothing typed)."""
        if self.config.sip == "off":
            return
        self.sip_missing = sip_server.missing_programs()
        if self.sip_missing:
            return
        from ctibridge.tenants.repository import TenantRepository
        from ctibridge.tenants.secrets import SecretStore
        from ctibridge_cli.demo import DEMO_CUSTOMER

        repository = TenantRepository(self.names.ref("Table"))
        secrets = SecretStore(self.stage).read(DEMO_CUSTOMER)
        agents: dict[str, str] = {}  # extension -> SIP password, for Kamailio's digest auth
        for agent in repository.list_agents(DEMO_CUSTOMER):
            password = secrets.sip_password(agent.ipphone) if secrets else None
            if password is not None:
                agents[agent.ipphone] = password.get_secret_value()
        self.sip = sip_server.SipServer(self.config.host, agents, self.config.sip_dir).start()
        repository.update_tenant(
            DEMO_CUSTOMER,
            {
                "sip_server": self.sip.domain,
                "sip_ws_url": self.sip.ws_url,
                "sip_realm": self.sip.domain,
                # Loopback only: no STUN server to wait for; rtpengine offers its loopback candidate.
                "ice_servers": [],
            },
        )

    # ------------------------------------------------------------------ servers
    def _api_origin_headers(self) -> list[tuple[str, str]]:
        """The custom headers CloudFront adds on the HTTP API origin (template.yaml), resolved here as
        CloudFormation resolves them: the local web port sends the same proof the functions check."""
        headers: list[tuple[str, str]] = []
        for distribution in self.template.resources_of_type("AWS::CloudFront::Distribution").values():
            for origin in distribution["Properties"]["DistributionConfig"].get("Origins", []):
                if "CustomOriginConfig" not in origin:
                    continue
                for header in origin.get("OriginCustomHeaders", []):
                    value = self.names.resolve_dynamic(str(self.names.resolve(header["HeaderValue"])))
                    headers.append((header["HeaderName"].lower(), value))
        return headers

    def _web_app(self) -> Starlette:
        async def config(_: Any) -> JSONResponse:
            # The webphone learns where the APIs are from here; on AWS, deploy writes the same file.
            return JSONResponse(
                {"httpApiUrl": self.http_url, "websocketUrl": self.ws_url, "stage": self.stage},
                # ctibridge.js, loaded by a CRM page of another origin, reads it (public addresses only).
                headers={"Access-Control-Allow-Origin": "*"},
            )

        async def mycc_webphone(_: Any) -> FileResponse:
            # Seed 003's iframe src is {host}/webphone: the webphone page itself (its relative
            # script paths resolve from the root, as at /).
            return FileResponse(WEBPHONE_DIR / "index.html", media_type="text/html; charset=utf-8")

        return Starlette(
            routes=[
                Route("/config.json", config),
                Route("/webphone", mycc_webphone),
                # One host for a CRM (issue 16): the API's paths go on to the HTTP gateway.
                *api_forward.ApiForward(self.http_url, origin_headers=self._api_origin_headers()).routes(),
                *(
                    [Route("/_local/aws-calls", aws_calls.endpoint, methods=["GET", "DELETE"])]
                    if self.config.count_aws_calls
                    else []
                ),
                *(
                    [Route("/_local/aws-faults", self.fault_proxy.endpoint, methods=["GET", "PUT"])]
                    if self.fault_proxy is not None
                    else []
                ),
                # LOCAL ONLY: demo login tokens for the webphone (never deployed; see dev_login).
                *(dev_login.routes() if self.config.seed_demo else []),
                Mount("/", StaticFiles(directory=WEBPHONE_DIR, html=True, check_dir=False)),
            ]
        )

    def _pbx_simulator_app(self) -> Starlette:
        from ctibridge_cli.demo import DEMO_CLICK2CALL_SECRET, DEMO_CUSTOMER, DEMO_PBX_SECRET

        config = pbx_simulator.SimulatorConfig(
            public_url=self.pbx_url,
            bridge_url=self.http_url,
            webhook_secrets={DEMO_CUSTOMER: DEMO_PBX_SECRET} if self.config.seed_demo else {},
            click2call_secrets={DEMO_CUSTOMER: DEMO_CLICK2CALL_SECRET} if self.config.seed_demo else {},
        )
        return pbx_simulator.create_app(config, sip=self.sip)

    def _server(self, app: Any, port: int) -> uvicorn.Server:
        config = uvicorn.Config(
            app,
            host=self.config.host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws_max_size=ws_gateway.MAX_MESSAGE_BYTES * 2,
            # API Gateway sends no server banner; neither do we (the security tests check headers).
            server_header=False,
            # API Gateway's sourceIp is the TCP peer, whatever X-Forwarded-For says: behind the web port's
            # forward it is the forward's own address, as behind CloudFront it is the edge's (the functions
            # find the viewer's with ctibridge.client_address). uvicorn would trust loopback's header.
            proxy_headers=False,
            # Open WebSocket clients (webphone tabs) are closed, not waited for, when the stack stops.
            timeout_graceful_shutdown=1,
        )
        # uvicorn leaves signals alone off the main thread: __main__ handles Ctrl-C and stops us.
        return uvicorn.Server(config)

    def _start_servers(self) -> None:
        assert self.functions is not None
        self.websocket = ws_gateway.WebSocketGateway(
            self.template.websocket_routes,
            self.functions,
            self.stage,
            self.template.route_selection_expression,
        )
        origins = self._cors_origins()
        apps = {
            "http": (
                http_gateway.create_app(
                    self.template.http_routes,
                    self.functions,
                    origins,
                    # LOCAL ONLY: the API's OpenAPI document, built from the handlers (not deployed).
                    [Route(openapi.OPENAPI_PATH, openapi.endpoint(self.template), methods=["GET"])],
                ),
                self.config.http_port,
            ),
            "ws": (self.websocket.create_app(), self.config.ws_port),
            "web": (self._web_app(), self.config.web_port),
            "pbx": (self._pbx_simulator_app(), self.config.pbx_port),
        }
        self._servers = {name: self._server(app, port) for name, (app, port) in apps.items()}
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve_all() -> None:
            self._tasks = {name: asyncio.ensure_future(s.serve()) for name, s in self._servers.items()}
            ready.set()
            # Wait until stop(): restart_websocket may replace the ws task meanwhile.
            while not all(s.should_exit for s in self._servers.values()):
                await asyncio.sleep(0.1)
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve_all())

        self._thread = threading.Thread(target=run, name="local-gateway", daemon=True)
        self._thread.start()
        ready.wait(10)
        for _, port in apps.values():
            wait_for_port(self.config.host, port)

    def _cors_origins(self) -> list[str]:
        for res in self.template.resources_of_type("AWS::Serverless::HttpApi").values():
            cors = self.names.resolve(res.get("Properties", {}).get("CorsConfiguration")) or {}
            allowed = cors.get("AllowOrigins", [])
            # A comma-separated parameter's Ref resolves to its text here: "a,b" is ["a", "b"]; the
            # template splits it itself (!Split), and no CRM origin at all leaves AllowOrigins out (None).
            if isinstance(allowed, str):
                allowed = allowed.split(",")
            origins = [o.strip() for o in allowed or [] if o.strip()]
            return [*origins, *self.web_origins]
        return self.web_origins

    def restart_websocket(self, downtime: float = 1.0) -> None:
        """Drop every WebSocket client and refuse connections for ``downtime`` s, then serve again."""
        assert self._loop is not None
        assert self.websocket is not None
        websocket = self.websocket

        async def restart() -> None:
            try:
                await websocket.close_all()
                self._servers["ws"].should_exit = True
                # Bounded: a slow shutdown must not keep the service down (clients are retrying).
                await asyncio.wait_for(asyncio.shield(self._tasks["ws"]), timeout=10)
            except Exception:  # whatever happened to the old server, serve again
                logger.warning("websocket server did not stop cleanly", exc_info=True)
            finally:
                await asyncio.sleep(downtime)
                websocket.accepting = True
                self._servers["ws"] = self._server(websocket.create_app(), self.config.ws_port)
                self._tasks["ws"] = asyncio.ensure_future(self._servers["ws"].serve())

        asyncio.run_coroutine_threadsafe(restart(), self._loop).result(timeout=30)
        wait_for_port(self.config.host, self.config.ws_port)
