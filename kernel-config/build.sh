#!/usr/bin/env bash
# Builds hull's guest kernel from Debian's linux-source-6.1 package and caches it.
#
#   kernel-config/build.sh [--profile standard|pvm-compat] [--print-dir]
#
# Output: ${HULL_CACHE:-/var/cache/hull}/kernel/<profile>-<hash>/{vmlinux,bzImage,config}
# where <hash> covers everything that shapes the kernel (source package version, fragments,
# patches, this script). A cached build is returned at once. Progress goes to stderr; the
# LAST line of stdout is the output directory:  dir=$(kernel-config/build.sh | tail -1)
# --print-dir only prints that directory (built or not) and exits.
#
# Profiles:
#   standard    hull.config                         (real KVM, QEMU TCG)
#   pvm-compat  hull.config + pvm-compat.config     (emulation-only KVM, see README.md)
#               + patches/pvm-compat/*.patch
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_TARBALL=${HULL_KERNEL_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
SOURCE_PACKAGE=linux-source-6.1
CACHE_ROOT=${HULL_CACHE:-/var/cache/hull}/kernel
START=$SECONDS

phase() { echo "[kernel +$((SECONDS - START))s] $*" >&2; }
die() { echo "kernel build.sh: error: $*" >&2; exit 1; }

profile=standard print_dir=0
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=${2:-}; shift 2 || die "--profile needs a value" ;;
        --profile=*) profile=${1#--profile=}; shift ;;
        --print-dir) print_dir=1; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (usage: build.sh [--profile standard|pvm-compat] [--print-dir])" ;;
    esac
done

# Fragments are merged in order (later lines win); patches apply only to their profile.
fragments=("$SCRIPT_DIR/hull.config")
patches=()
case "$profile" in
    standard) ;;
    pvm-compat)
        fragments+=("$SCRIPT_DIR/pvm-compat.config")
        if [ -d "$SCRIPT_DIR/patches/pvm-compat" ]; then
            while IFS= read -r p; do patches+=("$p"); done \
                < <(find "$SCRIPT_DIR/patches/pvm-compat" -name '*.patch' | LC_ALL=C sort)
        fi
        ;;
    *) die "unknown profile '$profile' (expected standard or pvm-compat)" ;;
esac
for f in "${fragments[@]}"; do [ -r "$f" ] || die "missing fragment $f"; done

[ -r "$SOURCE_TARBALL" ] || die "kernel source $SOURCE_TARBALL not found: apt-get install $SOURCE_PACKAGE"
# The Debian package version identifies the source; fall back to the tarball's checksum when
# the tarball does not come from dpkg (HULL_KERNEL_SOURCE).
if [ -z "${HULL_KERNEL_SOURCE:-}" ] && version=$(dpkg-query -W -f='${Version}' "$SOURCE_PACKAGE" 2>/dev/null) \
    && [ -n "$version" ]; then
    source_id="$SOURCE_PACKAGE $version"
else
    source_id="$(basename "$SOURCE_TARBALL") $(sha256sum "$SOURCE_TARBALL" | cut -d' ' -f1)"
fi

# Patches identify the source tree; fragments + this script identify the build on top of it.
patch_hash=$( { echo "$source_id"; for p in "${patches[@]}"; do echo "$(basename "$p")"; cat "$p"; done; } \
    | sha256sum | cut -c1-16)
hash=$( { echo "$source_id"; echo "$profile"; for f in "${fragments[@]}" "${patches[@]}"; do
            echo "== $(basename "$f")"; cat "$f"; done; cat "$0"; } | sha256sum | cut -c1-16)
out_dir="$CACHE_ROOT/$profile-$hash"
if [ "$print_dir" = 1 ]; then
    echo "$out_dir"
    exit 0
fi

# The lookup memo lets hull skip this script on the next run (a fork + exec of bash and the
# hashing above, ~65 ms, on every `hull run`): it names the build and the size and mtime of
# every input. hull-kernel trusts it only while all of them are unchanged
# (artifacts.rs:memo_lookup); otherwise it runs this script, which rewrites the memo.
write_lookup_memo() {
    local memo="$CACHE_ROOT/$profile.lookup" tmp
    mkdir -p "$CACHE_ROOT" || return 0
    tmp=$(mktemp "$CACHE_ROOT/.lookup.XXXXXX") || return 0
    {
        echo "hull-kernel-lookup 1"
        echo "dir $out_dir"
        echo "script $SCRIPT_DIR/$(basename "$0")"
        echo "source-env ${HULL_KERNEL_SOURCE:-}"
        local input
        for input in "$SCRIPT_DIR/$(basename "$0")" "${fragments[@]}" "${patches[@]}" \
                     "$SCRIPT_DIR/patches/$profile" "$SOURCE_TARBALL"; do
            [ -e "$input" ] || continue
            echo "input $(stat -L -c '%s %.9Y' "$input") $input"
        done
    } >"$tmp" && mv -f "$tmp" "$memo" || rm -f "$tmp"
}

# A cache hit says nothing on stderr: `hull run` calls this on every run.
if [ -f "$out_dir/vmlinux" ]; then
    write_lookup_memo
    echo "$out_dir"
    exit 0
fi

work="$CACHE_ROOT/build/$profile"
mkdir -p "$work"
# One build per profile at a time; a second caller waits, then finds the cache filled.
exec 9>"$work/lock"
if ! flock -n 9; then
    phase "another build of '$profile' is running; waiting for it"
    flock 9
fi
if [ -f "$out_dir/vmlinux" ]; then
    phase "cached (built meanwhile): $out_dir"
    write_lookup_memo
    echo "$out_dir"
    exit 0
fi

log="$work/build-$hash.log"
: >"$log"
run() {
    # make output goes to the log; on failure, show its tail and where the rest is.
    if ! "$@" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "'$*' failed; full log: $log"
    fi
}

# Pristine (patched) source tree, reused between builds while source + patches are unchanged.
src="$work/linux"
stamp="$src/.hull-source-stamp"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$patch_hash" ]; then
    phase "extracting $SOURCE_TARBALL ($source_id)"
    rm -rf "$src" "$work/obj" "$work/linux.tmp"
    mkdir -p "$work/linux.tmp"
    run tar -xf "$SOURCE_TARBALL" -C "$work/linux.tmp" --strip-components=1
    for p in "${patches[@]}"; do
        phase "applying $(basename "$p")"
        run patch -d "$work/linux.tmp" -p1 --forward --batch -i "$p"
    done
    echo "$patch_hash" >"$work/linux.tmp/.hull-source-stamp"
    mv -T "$work/linux.tmp" "$src"
fi

obj="$work/obj"
mkdir -p "$obj"
export ARCH=x86_64 KBUILD_BUILD_USER=hull KBUILD_BUILD_HOST=hull
make_args=(-C "$src" O="$obj" ARCH=x86_64)

phase "configuring: tinyconfig + ${fragments[*]##*/}"
run make "${make_args[@]}" tinyconfig
# -n: allnoconfig semantics, so whatever neither tinyconfig nor our fragments name stays off.
(cd "$src" && run scripts/kconfig/merge_config.sh -n -O "$obj" "$obj/.config" "${fragments[@]}")
run make "${make_args[@]}" olddefconfig

# Every fragment line must survive (same rule as hull_kernel::fragment::missing_options).
missing=$(cat "${fragments[@]}" | awk -v final="$obj/.config" '
    BEGIN {
        while ((getline line < final) > 0) {
            if (match(line, /^CONFIG_[A-Za-z0-9_]+=/)) {
                name = substr(line, 1, RLENGTH - 1); have[name] = substr(line, RLENGTH + 1)
            }
        }
    }
    /^CONFIG_[A-Za-z0-9_]+=/ { n = index($0, "="); want[substr($0, 1, n - 1)] = substr($0, n + 1); order[++k] = substr($0, 1, n - 1); next }
    /^# CONFIG_[A-Za-z0-9_]+ is not set$/ { want[$2] = "n"; order[++k] = $2 }
    END {
        for (i = 1; i <= k; i++) {
            name = order[i]; if (seen[name]++) continue
            w = want[name]; h = (name in have) ? have[name] : "n"
            if (w != h) printf "  %s: wanted %s, got %s\n", name, (w == "n" ? "not set" : w), (h == "n" ? "not set" : h)
        }
    }')
if [ -n "$missing" ]; then
    echo "$missing" >&2
    die "the options above did not survive olddefconfig (unmet dependency or typo in a fragment); final config: $obj/.config"
fi

phase "building vmlinux + bzImage with -j$(nproc) (log: $log)"
run make "${make_args[@]}" -j"$(nproc)" vmlinux bzImage

# hull-vmm and QEMU boot vmlinux through its PVH entry: refuse to publish one without it.
if ! readelf -n "$obj/vmlinux" 2>/dev/null | grep -q 'Xen.*0x00000012\|Xen.*PHYS32_ENTRY\|Xen.*Unknown note type: (0x00000012)'; then
    die "vmlinux has no Xen PVH (PHYS32_ENTRY) note; check CONFIG_PVH in $obj/.config"
fi

phase "publishing $out_dir"
tmp_out=$(mktemp -d "$CACHE_ROOT/.tmp-$profile-$hash.XXXXXX")
cp "$obj/vmlinux" "$tmp_out/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$tmp_out/bzImage"
cp "$obj/.config" "$tmp_out/config"
chmod 755 "$tmp_out"
if ! mv -T "$tmp_out" "$out_dir" 2>/dev/null; then
    rm -rf "$tmp_out"
    [ -f "$out_dir/vmlinux" ] || die "could not publish $out_dir"
fi
phase "done in $((SECONDS - START))s"
write_lookup_memo
echo "$out_dir"
