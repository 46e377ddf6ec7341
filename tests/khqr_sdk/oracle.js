// The official NBC KHQR SDK as a test oracle: one JSON array of QR strings per input line,
// one JSON array of verdicts per output line, in order.  A verdict is
//   {"valid": true, "decoded": {...BakongKHQR.decode(qr).data}} | {"valid": false} | {"valid": false, "hang": true}
// Date.now() is pinned to 0 so that no QR is "expired": PayHub judges expiry itself.
// The SDK loops forever on some malformed templates; each call runs under a 100 ms watchdog.
"use strict";
const readline = require("readline");
const vm = require("vm");
const { BakongKHQR } = require("bakong-khqr");

Date.now = () => 0;

const context = vm.createContext({
  check(qr) {
    if (!BakongKHQR.verify(qr).isValid) return { valid: false };
    return { valid: true, decoded: BakongKHQR.decode(qr).data };
  },
  qr: "",
});
const call = new vm.Script("check(qr)");

function verdict(qr) {
  context.qr = qr;
  try {
    return call.runInContext(context, { timeout: 100 });
  } catch (error) {
    if (error && error.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") return { valid: false, hang: true };
    return { valid: false, error: String(error) };
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  const verdicts = JSON.parse(line).map(verdict);
  process.stdout.write(JSON.stringify(verdicts) + "\n");
});
