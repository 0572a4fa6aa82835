// What one client flooding token_refresh costs the other members of its room.
//
//   node bench/refresh-flood.mjs PRESENCED_BINARY [extra server args...]
//
// Starts the binary on 127.0.0.1 with an RS256 key made here, joins 20
// observers to one room, each pinging every 20 ms (app-level ping, answered
// by the server's loop), and measures ping round trips for 4 s with no
// flood, then 4 s while one member of the same room sends token_refresh
// with its own valid RS256 token as fast as its socket takes them. Prints
// one JSON line: p50, p99 and max round trip of each phase, the refreshes
// the flooder got answered, and how its connection ended. The flooder is a
// process of its own.
//
// Uses the ws package of bench/peers/node-ws (run `npm ci` there first;
// bench/run.sh does). Bounded: 8 s of measuring, then everything is closed
// and the server is stopped by its PID.
import { spawn } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(new URL("./peers/node-ws/package.json", import.meta.url));
const WebSocket = require("ws");

const OBSERVERS = 20;
const PING_MS = 20;
const PHASE_MS = 4000;
const WS = "flood";

const b64url = (b) => Buffer.from(b).toString("base64url");
const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });

function token(user) {
    const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
    const now = Math.floor(Date.now() / 1000);
    const body = b64url(JSON.stringify({ sub: user, name: user, room: `presence-${WS}`, iat: now, exp: now + 600 }));
    const sig = sign("sha256", Buffer.from(`${head}.${body}`), privateKey);
    return `${head}.${body}.${b64url(sig)}`;
}

async function startServer(bin, extra) {
    const dir = mkdtempSync(join(tmpdir(), "refresh-flood-"));
    writeFileSync(join(dir, "key.pem"), publicKey.export({ type: "spki", format: "pem" }));
    const portFile = join(dir, "port");
    const args = ["--listen", "127.0.0.1:0", "--port-file", portFile, "--jwt-alg", "RS256",
                  "--jwt-public-key", join(dir, "key.pem"), "--log-level", "warn", ...extra];
    const proc = spawn(bin, args, { stdio: ["ignore", "ignore", "inherit"] });
    for (let i = 0; i < 200 && !existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 50));
    const port = Number(readFileSync(portFile, "utf8").trim());
    return { proc, port };
}

function open(port, user, tok = token(user)) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/parties/presence/${WS}?token=${tok}`);
    return new Promise((resolve, reject) => {
        ws.once("message", () => resolve(ws)); // the snapshot
        ws.once("error", reject);
    });
}

function quantiles(samples) {
    if (!samples.length) return { n: 0 };
    const s = [...samples].sort((a, b) => a - b);
    const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
    return { n: s.length, p50: +at(0.5).toFixed(2), p99: +at(0.99).toFixed(2), max: +s[s.length - 1].toFixed(2) };
}

// Each observer pings every PING_MS; the round trips go to the current phase's list.
function observe(observers, phase) {
    const timers = observers.map((ws, k) => {
        let id = 0;
        const sent = new Map();
        ws.on("message", (data) => {
            const m = JSON.parse(data);
            if (m.type === "pong" && sent.has(m.id)) phase.samples.push(performance.now() - sent.get(m.id));
        });
        return setInterval(() => { sent.set(++id, performance.now()); ws.send(`{"type":"ping","id":${id}}`); }, PING_MS);
    });
    return () => timers.forEach(clearInterval);
}

function flood(ws, tok, result) {
    const msg = JSON.stringify({ type: "token_refresh", token: tok });
    ws.on("message", (data) => { if (JSON.parse(data).type === "auth_ok") result.answered++; });
    ws.on("close", (code, reason) => { result.closed = `${code} ${reason}`; });
    ws.on("error", () => {});
    const pump = () => {
        // A bounded batch per turn: a socket the server has closed takes
        // sends without growing bufferedAmount until its close is read.
        for (let i = 0; i < 256 && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 65536; i++)
            ws.send(msg);
        if (ws.readyState === WebSocket.OPEN) setImmediate(pump);
    };
    pump();
}

// The flooder runs in a process of its own, so that its sending does not
// delay the observers' reading of their pongs.
async function floodChild(port, tok) {
    const mallory = await open(port, "mallory", tok);
    const result = { answered: 0, closed: "open" };
    flood(mallory, tok, result);
    await new Promise((r) => setTimeout(r, PHASE_MS));
    mallory.terminate();
    process.stdout.write(JSON.stringify(result));
}

async function main(bin, extra) {
    const { proc, port } = await startServer(bin, extra);
    const observers = [];
    for (let i = 0; i < OBSERVERS; i++) observers.push(await open(port, `obs${i}`));
    const quiet = { samples: [] }, loud = { samples: [] };
    const phase = { samples: quiet.samples };
    const stop = observe(observers, phase);
    await new Promise((r) => setTimeout(r, PHASE_MS));
    phase.samples = loud.samples;
    const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "--flood-child", String(port),
                                                  token("mallory")],
                        { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    await new Promise((r) => child.on("exit", r));
    stop();
    for (const ws of observers) ws.terminate();
    proc.kill("SIGTERM");
    const result = out ? JSON.parse(out) : { answered: -1, closed: "child failed" };
    console.log(JSON.stringify({ server: bin, args: extra, quiet: quantiles(quiet.samples),
                                 flood: quantiles(loud.samples), refreshes_answered: result.answered,
                                 flooder: result.closed }));
}

if (process.argv[2] === "--flood-child") await floodChild(Number(process.argv[3]), process.argv[4]);
else await main(process.argv[2], process.argv.slice(3));
