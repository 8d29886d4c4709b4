/*
 * lamina's Node.js runtime: the role of AWS's Node runtime (aws-lambda-nodejs-runtime-interface-client)
 * on the Runtime API at AWS_LAMBDA_RUNTIME_API. Loads the handler `path/file.export[.nested]` from
 * the task root (.js, .mjs, .cjs; CommonJS or ES modules) once, then loops on invocation/next:
 * builds the context, calls async or callback handlers (callbackWaitsForEmptyEventLoop), posts the
 * response or AWS's error shape, and formats console output as AWS does
 * (`timestamp\trequestId\tLEVEL\tmessage`, newlines as \r). Response streaming as AWS's runtime offers it:
 * `awslambda.streamifyResponse(handler)` marks a handler `(event, responseStream, context)` whose
 * writes go to the Runtime API as they happen (`Lambda-Runtime-Function-Response-Mode: streaming`,
 * chunked, errors as trailers), and `awslambda.HttpResponseStream.from(stream, prelude)` puts the
 * JSON status/headers prelude and its 8 NUL bytes before the first body byte. Plain Node >= 18, no
 * dependencies.
 * Started by rapid (runtimes/rapid) as `node bootstrap.cjs`.
 */
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");
const url = require("url");
const util = require("util");

const [HOST, PORT] = (process.env.AWS_LAMBDA_RUNTIME_API || "127.0.0.1:9001").split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const PREFIX = "/2018-06-01/runtime";
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();

let currentRequestId;
let currentInvocation = null;

/*
 * _X_AMZN_TRACE_ID lives in process.env as the handler sees it, but not in the C environment:
 * node's process.env setter goes through uv_os_setenv to glibc's setenv, which keeps a copy of
 * every value it was ever given (~143 bytes per warm invoke, each with a new trace id: a 128 MB
 * function would be ended by its memory limit after ~800,000 invokes). process.env is replaced
 * once by a Proxy over node's own env object that holds this one variable in JavaScript: reads,
 * `in`, Object.keys, JSON.stringify, delete and child processes spawned with the default env see
 * it as before; every other variable goes to node's object unchanged. Not seen: native getenv()
 * and worker threads made with the default env (node copies the C environment for those).
 */
const TRACE_VARIABLE = "_X_AMZN_TRACE_ID";

function traceVariableEnv(real) {
  let trace = real[TRACE_VARIABLE];
  if (trace !== undefined) {
    delete real[TRACE_VARIABLE];
  }
  const descriptor = () => (trace === undefined ? undefined
    : { value: trace, writable: true, enumerable: true, configurable: true });
  return new Proxy(real, {
    get: (target, key) => (key === TRACE_VARIABLE ? trace : Reflect.get(target, key)),
    set(target, key, value) {
      if (key !== TRACE_VARIABLE) return Reflect.set(target, key, value);
      trace = `${value}`;
      return true;
    },
    has: (target, key) => (key === TRACE_VARIABLE ? trace !== undefined : Reflect.has(target, key)),
    deleteProperty(target, key) {
      if (key !== TRACE_VARIABLE) return Reflect.deleteProperty(target, key);
      trace = undefined;
      return true;
    },
    ownKeys(target) {
      const keys = Reflect.ownKeys(target);
      if (trace !== undefined) keys.push(TRACE_VARIABLE);
      return keys;
    },
    getOwnPropertyDescriptor: (target, key) => (key === TRACE_VARIABLE ? descriptor()
      : Reflect.getOwnPropertyDescriptor(target, key)),
    defineProperty(target, key, attributes) {
      if (key !== TRACE_VARIABLE) return Reflect.defineProperty(target, key, attributes);
      if (!("value" in attributes)) {
        throw new TypeError("'process.env' does not accept an accessor(getter/setter) descriptor");
      }
      trace = `${attributes.value}`;
      return true;
    },
  });
}

process.env = traceVariableEnv(process.env);

// ---- the Runtime API -------------------------------------------------------------------------

function call(method, pathname, body, headers) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const request = http.request({ host: HOST, port: PORT, method, path: pathname, agent,
      headers: { ...(headers || {}), ...(data ? { "Content-Length": data.length } : {}) } }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode, headers: response.headers,
        body: Buffer.concat(chunks) }));
    });
    request.on("error", reject);
    request.end(data);
  });
}

// ---- response streaming ------------------------------------------------------------------------

const { Writable } = require("stream");
const STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
const HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response";
const ERROR_TYPE = "Lambda-Runtime-Function-Error-Type";
const ERROR_BODY = "Lambda-Runtime-Function-Error-Body";

function streamifyResponse(handler) {
  handler[STREAMING] = "response";
  return handler;
}

class HttpResponseStream {
  static from(stream, prelude) {
    stream.setContentType(HTTP_INTEGRATION);
    const text = JSON.stringify(prelude);
    stream._onBeforeFirstWrite = (write) => { write(text); write(Buffer.alloc(8)); };
    return stream;
  }
}

globalThis.awslambda = { streamifyResponse, HttpResponseStream };

// The responseStream a streaming handler writes to: one chunked POST to invocation/{id}/response,
// opened at the first write (when the content type is settled) and ended by end() or fail().
function responseStream(requestId) {
  let contentType = "application/octet-stream";
  let request = null;
  let settle;
  const finished = new Promise((resolve) => { settle = resolve; });
  let first = true;
  let failure = null; // the trailers of an error, sent once every write before it went out
  const open = () => {
    if (request) return;
    request = http.request({ host: HOST, port: PORT, method: "POST", agent,
      path: `${PREFIX}/invocation/${requestId}/response`,
      headers: { "Content-Type": contentType, "Lambda-Runtime-Function-Response-Mode": "streaming",
        "Transfer-Encoding": "chunked", Trailer: `${ERROR_TYPE}, ${ERROR_BODY}` } }, (response) => {
      response.resume();
      response.on("end", () => settle(response.statusCode));
    });
    request.on("error", (error) => settle(error));
    if (first) {
      first = false;
      if (stream._onBeforeFirstWrite) stream._onBeforeFirstWrite((data) => request.write(data));
    }
  };
  const stream = new Writable({
    write(chunk, encoding, callback) {
      open();
      request.write(chunk, callback);
    },
    final(callback) {
      open();
      if (failure) request.addTrailers(failure);
      request.end();
      callback();
    },
  });
  const write = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => write(typeof chunk === "string" || chunk instanceof Uint8Array
    ? chunk : JSON.stringify(chunk), ...rest);
  stream.setContentType = (type) => {
    if (request) throw new Error("Cannot set content-type, too late.");
    contentType = type;
  };
  stream.opened = () => request !== null;
  stream.fail = (error) => {
    const response = toRapidResponse(error);
    failure = { [ERROR_TYPE]: response.errorType,
      [ERROR_BODY]: Buffer.from(JSON.stringify(response)).toString("base64") };
    if (!stream.writableEnded) stream.end();
  };
  stream.finished = finished;
  return stream;
}

// ---- logging ---------------------------------------------------------------------------------

function patchConsole() {
  const write = (level) => (...args) => {
    const message = util.format(...args).replace(/\n/g, "\r");
    process.stdout.write(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message}\n`);
  };
  console.log = write("INFO");
  console.info = write("INFO");
  console.warn = write("WARN");
  console.error = write("ERROR");
  console.debug = write("DEBUG");
  console.trace = write("TRACE");
  console.fatal = write("FATAL");
}

// ---- errors ----------------------------------------------------------------------------------

class RuntimeError extends Error {
  constructor(name, message, stack) {
    super(message);
    this.name = name;
    if (stack) this.stack = stack;
  }
}

function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || error instanceof Error) {
      return { errorType: error.name, errorMessage: error.message,
        trace: String(error.stack || "").split("\n") };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch (_) {
    return { errorType: "handled", errorMessage: "callback called with Error argument, but there was a problem "
      + "while retrieving one or more of its message, name, and stack" };
  }
}

function formatted(response) {
  return "\t" + JSON.stringify({ errorType: response.errorType, errorMessage: response.errorMessage,
    stack: response.trace });
}

// ---- loading the handler ---------------------------------------------------------------------

function splitHandler(handler) {
  const slash = handler.lastIndexOf("/");
  const rest = handler.slice(slash + 1);
  const dot = rest.indexOf(".");
  if (dot < 1 || dot === rest.length - 1) {
    throw new RuntimeError("Runtime.MalformedHandlerName", "Bad handler");
  }
  return [handler.slice(0, slash + 1) + rest.slice(0, dot), rest.slice(dot + 1)];
}

function isModuleType(file) {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).type === "module";
    } catch (_) { /* no package.json here */ }
    if (dir === path.dirname(dir)) return false;
  }
}

async function loadModule(moduleName) {
  const base = path.resolve(TASK_ROOT, moduleName);
  for (const extension of [".js", ".mjs", ".cjs"]) {
    const file = base + extension;
    if (!fs.existsSync(file)) continue;
    if (extension === ".mjs" || (extension === ".js" && isModuleType(file))) {
      return import(url.pathToFileURL(file).href);
    }
    try {
      return require(file);
    } catch (error) {
      if (error && error.code === "ERR_REQUIRE_ESM") return import(url.pathToFileURL(file).href);
      throw error;
    }
  }
  try {
    return require(require.resolve(moduleName, { paths: [TASK_ROOT, ...(process.env.NODE_PATH || "").split(":")] }));
  } catch (error) {
    if (error && error.code === "MODULE_NOT_FOUND") {
      throw new RuntimeError("Runtime.ImportModuleError",
        `Error: Cannot find module '${moduleName}'\nRequire stack:\n- /var/runtime/index.mjs`);
    }
    throw error;
  }
}

async function loadHandler(handlerString) {
  const [moduleName, handlerPath] = splitHandler(handlerString);
  let loaded;
  try {
    loaded = await loadModule(moduleName);
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    if (error instanceof SyntaxError) {
      throw new RuntimeError("Runtime.UserCodeSyntaxError", `${error.name}: ${error.message}`, error.stack);
    }
    if (error && (error.code === "MODULE_NOT_FOUND" || error.code === "ERR_MODULE_NOT_FOUND")) {
      throw new RuntimeError("Runtime.ImportModuleError", `Error: ${error.message}`, error.stack);
    }
    throw error;
  }
  let handler = loaded;
  for (const key of handlerPath.split(".")) {
    handler = handler === undefined || handler === null ? undefined : handler[key];
  }
  if (handler === undefined && loaded && loaded.default) {
    handler = handlerPath.split(".").reduce((value, key) => (value == null ? undefined : value[key]), loaded.default);
  }
  if (handler === undefined) {
    throw new RuntimeError("Runtime.HandlerNotFound", `${handlerString} is undefined or not exported`);
  }
  if (typeof handler !== "function") {
    throw new RuntimeError("Runtime.HandlerNotFound", `${handlerString} is not a function`);
  }
  return handler;
}

// ---- one invocation --------------------------------------------------------------------------

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RuntimeError("Runtime.UnmarshalError", `Unable to parse ${what}: ${error.message}`);
  }
}

function makeContext(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: undefined,
    clientContext: undefined,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
  if (headers["lambda-runtime-cognito-identity"]) {
    const identity = parseJson(headers["lambda-runtime-cognito-identity"], "cognito identity");
    context.identity = { cognitoIdentityId: identity.cognitoIdentityId,
      cognitoIdentityPoolId: identity.cognitoIdentityPoolId };
  }
  if (headers["lambda-runtime-client-context"]) {
    context.clientContext = parseJson(headers["lambda-runtime-client-context"], "client context");
  }
  return context;
}

function runHandler(handler, event, context) {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (error, result) => {
      if (settled) return;
      settled = true;
      if (context.callbackWaitsForEmptyEventLoop) {
        process.once("beforeExit", () => resolve([error, result]));
      } else {
        resolve([error, result]);
      }
    };
    const callback = (error, result) => settle(error === undefined ? null : error, result);
    context.done = callback;
    context.succeed = (result) => callback(null, result);
    context.fail = (error) => callback(error === undefined || error === null ? "handled" : error);
    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (error) {
      settled = true;
      resolve([error, undefined]);
      return;
    }
    if (returned && typeof returned.then === "function") {
      returned.then((result) => { if (!settled) { settled = true; resolve([null, result]); } },
        (error) => { if (!settled) { settled = true; resolve([error || "handled", undefined]); } });
    } else if (handler.length < 3 && !settled) {
      settled = true;
      resolve([null, returned]);
    }
  });
}

async function postError(requestId, error) {
  const response = toRapidResponse(error);
  console.error("Invoke Error", formatted(response));
  await call("POST", `${PREFIX}/invocation/${requestId}/error`, JSON.stringify(response),
    { "Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": response.errorType });
}

async function invoke(handler, next) {
  const headers = next.headers;
  const requestId = headers["lambda-runtime-aws-request-id"];
  currentRequestId = requestId;
  currentInvocation = requestId;
  if (headers["lambda-runtime-trace-id"]) {
    process.env._X_AMZN_TRACE_ID = headers["lambda-runtime-trace-id"];
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
  if (handler[STREAMING] === "response") {
    await invokeStreaming(handler, next, requestId);
    return;
  }
  let error = null;
  let result;
  try {
    const context = makeContext(headers);
    const event = parseJson(next.body.toString("utf8"), "event");
    [error, result] = await runHandler(handler, event, context);
  } catch (thrown) {
    error = thrown;
  }
  currentInvocation = null;
  if (error !== null && error !== undefined) {
    await postError(requestId, error);
    return;
  }
  let body;
  try {
    body = result === undefined ? "null" : JSON.stringify(result);
  } catch (thrown) {
    await postError(requestId, new RuntimeError("Runtime.MarshalError", `Unable to stringify response body`));
    return;
  }
  await call("POST", `${PREFIX}/invocation/${requestId}/response`, body === undefined ? "null" : body,
    { "Content-Type": "application/json" });
}

async function invokeStreaming(handler, next, requestId) {
  const stream = responseStream(requestId);
  let error = null;
  try {
    const context = makeContext(next.headers);
    const event = parseJson(next.body.toString("utf8"), "event");
    await handler(event, stream, context);
  } catch (thrown) {
    error = thrown === undefined || thrown === null ? "handled" : thrown;
  }
  currentInvocation = null;
  if (error !== null) {
    if (!stream.opened() && !stream.writableEnded) {
      await postError(requestId, error);
      return;
    }
    console.error("Invoke Error", formatted(toRapidResponse(error)));
    stream.fail(error);
  } else if (!stream.writableEnded) {
    stream.end();
  }
  await stream.finished;
}

async function crash(error, type) {
  const response = toRapidResponse(error);
  if (type) response.errorType = type;
  console.error("Uncaught Exception", formatted(response));
  if (currentInvocation !== null) {
    try {
      await call("POST", `${PREFIX}/invocation/${currentInvocation}/error`, JSON.stringify(response),
        { "Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": response.errorType });
    } catch (_) { /* the environment ends anyway */ }
  }
  process.exit(129);
}

async function main() {
  patchConsole();
  let handler;
  try {
    handler = await loadHandler(process.env._HANDLER || "");
  } catch (error) {
    const response = toRapidResponse(error);
    console.error("Uncaught Exception", formatted(response));
    await call("POST", `${PREFIX}/init/error`, JSON.stringify(response),
      { "Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": response.errorType });
    process.exit(129);
  }
  process.on("uncaughtException", (error) => crash(error));
  process.on("unhandledRejection", (reason) => crash(reason, "Runtime.UnhandledPromiseRejection"));
  for (;;) {
    const next = await call("GET", `${PREFIX}/invocation/next`);
    if (next.status !== 200) {
      throw new Error(`invocation/next answered ${next.status}: ${next.body}`);
    }
    await invoke(handler, next);
  }
}

main().catch((error) => {
  process.stderr.write(`lamina node runtime: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
