// A loopback SMSC for node/sms's end-to-end test, built on the npm `smpp`
// package's server (not on anything in this repository).
//
// Environment:
//   SMSC_SYSTEM_ID, SMSC_PASSWORD  the bind_transceiver/bind_transmitter credentials (required)
//   SMSC_REFUSE_BINDS=N            refuse the first N binds with ESME_RBINDFAIL (default 0)
//   SMSC_DROP_AFTER=N              destroy the connection 50 ms after answering (and
//                                  receipting) the N-th submit_sm of a session, once per
//                                  process (default 0: never)
//
// It listens on 127.0.0.1 on a free port and prints one JSON line per
// event to stdout: {"event":"listening","port":P} first, then "bind"
// (with "ok"), "submit_sm" (with "to", "text", "message_id", "data_coding"),
// "receipt" (a deliver_sm receipt sent) and "drop".
'use strict';
const smpp = require('smpp');

const systemID = process.env.SMSC_SYSTEM_ID;
const password = process.env.SMSC_PASSWORD;
let refuse = parseInt(process.env.SMSC_REFUSE_BINDS || '0', 10);
let dropAfter = parseInt(process.env.SMSC_DROP_AFTER || '0', 10);
if (!systemID || password === undefined) {
  console.error('smsc: SMSC_SYSTEM_ID and SMSC_PASSWORD are required');
  process.exit(2);
}

let nextID = 1;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const server = smpp.createServer((session) => {
  let submits = 0;
  let bound = false;
  const onBind = (pdu) => {
    const ok = pdu.system_id === systemID && pdu.password === password && refuse <= 0;
    if (refuse > 0) refuse--;
    out({ event: 'bind', command: pdu.command, system_id: pdu.system_id, ok });
    if (!ok) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    bound = true;
    session.send(pdu.response({ system_id: 'testsmsc' }));
  };
  session.on('bind_transceiver', onBind);
  session.on('bind_transmitter', onBind);
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
  session.on('deliver_sm_resp', () => {});
  session.on('error', () => {});
  session.on('submit_sm', (pdu) => {
    if (!bound) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    submits++;
    const id = 'M' + (nextID++);
    const msg = pdu.short_message;
    const text = typeof msg === 'object' && msg !== null && 'message' in msg ? msg.message : String(msg);
    out({ event: 'submit_sm', to: pdu.destination_addr, from: pdu.source_addr, text,
      data_coding: pdu.data_coding, registered_delivery: pdu.registered_delivery, message_id: id });
    session.send(pdu.response({ message_id: id }));
    if (pdu.registered_delivery & 1) {
      const now = new Date();
      const stamp = now.toISOString().replace(/[-:T]/g, '').slice(2, 12);
      session.deliver_sm({
        source_addr: pdu.destination_addr,
        destination_addr: pdu.source_addr,
        esm_class: 0x04, // SMSC delivery receipt
        short_message: `id:${id} sub:001 dlvrd:001 submit date:${stamp} done date:${stamp} stat:DELIVRD err:000 text:`,
      });
      out({ event: 'receipt', message_id: id });
    }
    if (dropAfter > 0 && submits === dropAfter) {
      // Answered (and receipted): now drop the connection without an
      // unbind, once the writes have gone out.
      dropAfter = 0;
      out({ event: 'drop', after: submits });
      setTimeout(() => session.socket.destroy(), 50);
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  out({ event: 'listening', port: server.address().port });
});
process.on('SIGTERM', () => process.exit(0));
