import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { publishedAddress, remoteEngineHost } from '../../src/docker/net.js';

describe('where a published port answers, as the engine says', () => {
  it('finds the engine host in DOCKER_HOST; a local socket is no remote host', () => {
    assert.equal(remoteEngineHost(undefined), undefined);
    assert.equal(remoteEngineHost('unix:///run/docker.sock'), undefined);
    assert.equal(remoteEngineHost('tcp://10.0.0.5:2376'), '10.0.0.5');
    assert.equal(remoteEngineHost('ssh://prof@lab-b12.example.org'), 'lab-b12.example.org');
    assert.equal(remoteEngineHost('tcp://[2001:db8::5]:2376'), '2001:db8::5');
  });

  it('a port on every address answers on loopback when the engine is here, on the engine host when it is not', () => {
    assert.equal(publishedAddress('0.0.0.0', undefined), '127.0.0.1');
    assert.equal(publishedAddress('0.0.0.0', '10.0.0.5'), '10.0.0.5');
    assert.equal(publishedAddress('', '10.0.0.5'), '10.0.0.5');
  });

  it('a port bound to one outside address answers there; one bound to loopback, on the engine host', () => {
    assert.equal(publishedAddress('192.0.2.7', '10.0.0.5'), '192.0.2.7');
    assert.equal(publishedAddress('127.0.0.1', undefined), '127.0.0.1');
    assert.equal(publishedAddress('127.0.0.1', '10.0.0.5'), '10.0.0.5');
  });
});
