# Sourced by labctl-reset and labctl-collect, run as root with `set -eu` and `umask 077`.
# backup_dir KIND makes a new directory DIR (mktemp -d, named KIND.XXXXXXXX) with DIR/backup in it, under
# /var/lib/labctl/backups, which only root may enter (not /tmp: students write there, and the engine cannot copy
# out of a tmpfs); it sets $dir and prints "backup DIR", the first line the engines read (maintenance-commands.ts).
# Root then opens each file there itself, so nothing a student can name or reach is written by root.
backup_dir() {
  # The parent only root may enter: made here, or checked to be a directory of root's, mode 0700, not a link.
  local parent=/var/lib/labctl/backups
  mkdir -p /var/lib/labctl
  mkdir -m 0700 "$parent" 2>/dev/null || true
  if [ -L "$parent" ] || [ ! -d "$parent" ] || [ "$(stat -c %u:%a "$parent")" != 0:700 ]; then
    echo "$parent is not a directory only root may enter" >&2
    exit 1
  fi
  # Left behind only when an engine could not copy one out.
  find "$parent" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf -- {} +
  dir=$(mktemp -d "$parent/$1.XXXXXXXX")
  mkdir "$dir/backup"
  echo "backup $dir"
}
