// A second gRPC implementation (Node's @grpc/grpc-js + @grpc/proto-loader) calling mikrotik_tool.
// Usage: node mikrotik_grpc_js.js CONFIG.json — prints one JSON object with every result.
// The service's .proto comes from protos/; grpc.health.v1 from a descriptor set the test writes
// out of the installed grpcio-health-checking package (no copy of health.proto in the repo).
"use strict";
const fs = require("fs");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const loaderOptions = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

const mikrotikDef = protoLoader.loadSync("centralita/mikrotik/v1/mikrotik.proto", {
  ...loaderOptions,
  includeDirs: config.includeDirs,
});
const healthDef = protoLoader.loadFileDescriptorSetFromBuffer(fs.readFileSync(config.healthDescriptorSet), loaderOptions);
const mikrotik = grpc.loadPackageDefinition(mikrotikDef).centralita.mikrotik.v1;
const health = grpc.loadPackageDefinition(healthDef).grpc.health.v1;

const credentials = grpc.credentials.createInsecure();
const mikrotikClient = new mikrotik.MikrotikService(config.target, credentials);
const healthClient = new health.Health(config.target, credentials);

function call(client, method, request, seconds) {
  const deadline = new Date(Date.now() + seconds * 1000);
  return new Promise((resolve) => {
    client[method](request, { deadline }, (err, reply) => {
      if (err) resolve({ ok: false, code: err.code, codeName: grpc.status[err.code], details: err.details });
      else resolve({ ok: true, reply });
    });
  });
}

(async () => {
  const out = {};
  out.healthOverall = await call(healthClient, "Check", { service: "" }, 5);
  out.healthService = await call(healthClient, "Check", { service: "centralita.mikrotik.v1.MikrotikService" }, 5);
  out.healthUnknown = await call(healthClient, "Check", { service: "no.such.Service" }, 5);
  out.answer = await call(mikrotikClient, "ConsultarMikrotik", { question: config.question, timeout: 10 }, 10);
  out.again = await call(mikrotikClient, "ConsultarMikrotik", { question: config.question }, 10);
  out.empty = await call(mikrotikClient, "ConsultarMikrotik", { question: "" }, 5);
  // The API is slow for this one: grpc-js's deadline must reach the server, which answers first.
  const t0 = Date.now();
  out.slow = await call(mikrotikClient, "ConsultarMikrotik", { question: config.slowQuestion }, 1.0);
  out.slow.elapsedMs = Date.now() - t0;
  out.apiHealth = await call(mikrotikClient, "GetApiHealth", {}, 5);
  mikrotikClient.close();
  healthClient.close();
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
