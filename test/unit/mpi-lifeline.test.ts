/**
 * Lifelines without MPI: one server (the scheduler's rank) and clients (the
 * other ranks) in this process. A goodbye is a normal end; a connection
 * that closes without one is a lost rank.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LifelineClient, LifelineServer } from '../../src/deploy/mpi/lifeline.js';

const TOKEN = 'cluster-token';

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('lifelines', () => {
  // Lifeline sockets are unref'd by design; something must keep this test process's event loop going.
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => {}, 1_000);
  });
  after(() => clearInterval(keepAlive));

  test('ranks that say goodbye are not reported lost', async () => {
    const server = await LifelineServer.start('127.0.0.1', TOKEN);
    const lost: number[] = [];
    server.onLost = (rank) => lost.push(rank);
    const a = await LifelineClient.connect('127.0.0.1', server.port, 2, TOKEN);
    const b = await LifelineClient.connect('127.0.0.1', server.port, 3, TOKEN);
    await until('both ranks registered', () => server.ranks.length === 2);
    assert.deepEqual(server.ranks, [2, 3]);
    await a.bye();
    await b.bye();
    await until('both gone', () => server.ranks.length === 0);
    assert.deepEqual(lost, []);
    await server.bye();
  });

  test('a killed rank is reported, and the others hear about it', async () => {
    const server = await LifelineServer.start('127.0.0.1', TOKEN);
    const lost: number[] = [];
    server.onLost = (rank) => {
      lost.push(rank);
      server.announceLost(rank);
    };
    const survivor = await LifelineClient.connect('127.0.0.1', server.port, 2, TOKEN);
    const heard: number[] = [];
    survivor.onPeerLost = (rank) => heard.push(rank);
    // A raw connection stands in for a rank that will die.
    const victim = connect({ host: '127.0.0.1', port: server.port });
    await new Promise<void>((r) => victim.once('connect', () => r()));
    victim.write(`${JSON.stringify({ hello: { rank: 3, token: TOKEN } })}\n`);
    await until('rank 3 registered', () => server.ranks.includes(3));
    victim.destroy();
    await until('rank 3 reported lost', () => lost.length === 1);
    assert.deepEqual(lost, [3]);
    await until('rank 2 told', () => heard.length === 1);
    assert.deepEqual(heard, [3]);
    await survivor.bye();
    await server.bye();
  });

  test("the scheduler's goodbye ends the lifeline normally; its death does not", async () => {
    const server = await LifelineServer.start('127.0.0.1', TOKEN);
    const client = await LifelineClient.connect('127.0.0.1', server.port, 1, TOKEN);
    let lost = false;
    client.onLost = () => (lost = true);
    await until('registered', () => server.ranks.length === 1);
    await server.bye();
    await client.closed;
    assert.equal(client.schedulerEnded, true);
    assert.equal(lost, false);

    // A server that vanishes without a word: a raw server that accepts, then drops the connection.
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const dying = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => dying.listen(0, '127.0.0.1', () => r()));
    const port = (dying.address() as { port: number }).port;
    const orphan = await LifelineClient.connect('127.0.0.1', port, 1, TOKEN);
    let orphanLost = false;
    orphan.onLost = () => (orphanLost = true);
    await until('accepted', () => sockets.length === 1);
    sockets[0]!.destroy();
    await orphan.closed;
    assert.equal(orphanLost, true);
    assert.equal(orphan.schedulerEnded, false);
    dying.close();
  });

  test('connections without the token are dropped and never reported', async () => {
    const server = await LifelineServer.start('127.0.0.1', TOKEN);
    const lost: number[] = [];
    server.onLost = (rank) => lost.push(rank);
    const stranger = await LifelineClient.connect('127.0.0.1', server.port, 5, 'wrong-token');
    await stranger.closed;
    assert.deepEqual(server.ranks, []);
    assert.deepEqual(lost, []);
    await server.bye();
  });

  test('lifelines never keep a process alive', async () => {
    const server = await LifelineServer.start('127.0.0.1', TOKEN);
    const client = await LifelineClient.connect('127.0.0.1', server.port, 1, TOKEN);
    await until('registered', () => server.ranks.length === 1);
    clearInterval(keepAlive);
    const resources = process.getActiveResourcesInfo();
    keepAlive = setInterval(() => {}, 1_000);
    // Sockets and the server are unref'd, so they do not count as keeping the loop alive.
    assert.equal(resources.filter((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap').length, 0, resources.join(', '));
    await client.bye();
    await server.bye();
  });
});
