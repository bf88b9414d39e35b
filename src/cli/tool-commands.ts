import type { Command } from 'commander';
import { cfg, jsonOption, stopSignal } from './shared.js';

/** The images and the host: build, images save/load, doctor. */
export function toolCommands(program: Command): void {
  program
    .command('build')
    .description('build the base, mail and sidecar images (up builds them when missing)')
    .option('--lab <name|path>', 'the lab whose accounts go into the image')
    .option(
      '--push <registry>',
      'then push the mail and sidecar images to this registry (host[:port]), for Swarm nodes',
    )
    .addOption(jsonOption())
    .action(async (o) => {
      const { build } = await import('../commands/build.js');
      await build({ ...o, signal: stopSignal() });
    });

  const images = program
    .command('images')
    .description("carry the class's images to Swarm nodes without a registry (docker save / docker load)");
  images
    .command('save')
    .description("write the lab's mail and sidecar images (built if missing) to one archive")
    .requiredOption('-o, --output <file>', 'archive to write (docker save format)')
    .option('--lab <name|path>', 'the lab whose images to save', cfg?.lab)
    .addOption(jsonOption())
    .action(async (o) => {
      const { imagesSave } = await import('../commands/images.js');
      await imagesSave({ ...o, signal: stopSignal() });
    });
  images
    .command('load')
    .description('load an archive written by `labctl images save` into the engine (DOCKER_HOST: each node in turn)')
    .argument('<file>', 'archive to load')
    .addOption(jsonOption())
    .action(async (file: string, o) => {
      const { imagesLoad } = await import('../commands/images.js');
      await imagesLoad({ ...o, file, signal: stopSignal() });
    });

  program
    .command('doctor')
    .description('check the Docker engine, disk space, base image and bootstrap tool, and say how to fix each')
    .option('--fix', 'as root on Debian: install docker.io and mmdebstrap, and start dockerd')
    .addOption(jsonOption())
    .action(async (o) => {
      const { doctor } = await import('../commands/doctor.js');
      await doctor({ ...o, signal: stopSignal() });
    });
}
