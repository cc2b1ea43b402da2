// server.mjs - an aedes broker for libmq's interop tests: listens on
// 127.0.0.1:PORT (argv[2], 0 = any free port) with aedes' default in-memory
// persistence (sessions and retained messages live as long as the
// process), prints "listening PORT" once ready. Stopped by its PID.
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2] || 0)
const broker = await Aedes.createBroker()
const server = net.createServer(broker.handle)
server.listen(port, '127.0.0.1', () => {
  console.log('listening ' + server.address().port)
})
broker.on('clientError', (client, err) => {
  console.log('client error', client && client.id, err.message)
})
process.on('SIGTERM', () => {
  server.close()
  broker.close(() => process.exit(0))
})
