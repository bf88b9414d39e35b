import Docker from 'dockerode';

let client: Docker | undefined;

/** One Docker client for the process, from DOCKER_HOST or the default socket. */
export function dockerClient(): Docker {
  client ??= new Docker();
  return client;
}
