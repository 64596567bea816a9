// The wire test server inside a worker thread (its own V8 heap): see ./index.ts.
import { parentPort } from 'node:worker_threads';
import { startWireServer } from '../wire-server/index.js';

const port = parentPort;
if (!port) throw new Error('wire-server-thread/worker.ts runs in a worker thread');
const server = await startWireServer();
port.on('message', (message: { id: number; type: 'commands' | 'clear' | 'stop' }) => {
  void (async () => {
    if (message.type === 'commands') {
      port.postMessage({ id: message.id, value: server.commands.map((command) => ({ name: command.name, db: command.db })) });
    } else if (message.type === 'clear') {
      server.clearRecords();
      port.postMessage({ id: message.id, value: null });
    } else {
      await server.stop();
      port.postMessage({ id: message.id, value: null });
    }
  })();
});
port.postMessage({ id: 0, value: server.uri });
