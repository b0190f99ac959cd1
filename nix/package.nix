# felhom-agent as a Nix package: buildNpmPackage + importNpmLock on Node 22, the SQLite addon
# (better-sqlite3, with its bundled SQLite amalgamation) compiled from source by node-gyp.
#
# The lockfile carries no `resolved` URLs (npm here is set to omit them) and importNpmLock only
# fetches entries that have one. So each entry's tarball URL is derived from its name, version
# and `npmRegistry`, a registry base URL the deployer supplies; the lockfile's `integrity`
# (sha512) pins every tarball, so the registry is trusted for availability, not for content.
# The repository deliberately names no registry host.
{ lib
, buildNpmPackage
, importNpmLock
, nodejs_22
, python3
, pkg-config
, makeWrapper
, systemd
, src
  # e.g. "https://registry.example.org" (no trailing slash needed). Also read from
  # FELHOM_NPM_REGISTRY under `--impure`.
, npmRegistry ? null
}:

let
  fromEnv = builtins.getEnv "FELHOM_NPM_REGISTRY";
  registry =
    if npmRegistry != null then npmRegistry
    else if fromEnv != "" then fromEnv
    else null;
  # Asserted lazily, here and not on the whole function: `.override { npmRegistry = …; }` has
  # to evaluate the package attribute set first, and must not trip over the missing registry.
  base = assert lib.assertMsg (registry != null) ''
      felhom-agent: no npm registry given. The lockfile has no `resolved` URLs, so tarball URLs are
      derived from name + version and a registry base URL that you supply, either
        felhom-agent.packages.''${system}.default.override { npmRegistry = "https://<your registry>"; }
      or FELHOM_NPM_REGISTRY=https://<your registry> with `nix build --impure`.
      Every tarball is still checked against the lockfile's sha512 integrity.
    '';
    lib.removeSuffix "/" registry;

  package = lib.importJSON (src + "/package.json");
  lock = lib.importJSON (src + "/package-lock.json");

  # "node_modules/a/node_modules/@s/b" -> "@s/b"; an aliased entry names itself in `name`.
  nameOf = key: module:
    module.name or (lib.last (lib.splitString "node_modules/" key));
  tarballUrl = key: module:
    let
      name = nameOf key module;
      basename = lib.last (lib.splitString "/" name);
    in
    "${base}/${name}/-/${basename}-${module.version}.tgz";

  # Only registry packages get a URL: the root entry (""), workspace links and entries that
  # already carry `resolved` are left as they are.
  withResolved = key: module:
    if key == "" || (module.link or false) || module ? resolved || !(module ? integrity) || !(module ? version)
    then module
    else module // { resolved = tarballUrl key module; };

  lockWithUrls = lock // { packages = lib.mapAttrs withResolved lock.packages; };
in
buildNpmPackage {
  pname = package.name;
  inherit (package) version;
  inherit src;
  nodejs = nodejs_22;

  npmDeps = importNpmLock {
    npmRoot = src;
    inherit package;
    packageLock = lockWithUrls;
  };
  npmConfigHook = importNpmLock.npmConfigHook;

  # node-gyp (better-sqlite3): python3 for gyp; pkg-config for addons that look for system libs.
  nativeBuildInputs = [ python3 pkg-config makeWrapper ];
  # prebuild-install would try the network; go straight to node-gyp with Node's own headers.
  env.npm_config_build_from_source = "true";

  # `npm run build` = node scripts/build.mjs: esbuild (a dev dependency; its Linux binary comes
  # from the lockfile's @esbuild/* entry like any other tarball) bundles src/ into dist/main.js
  # plus one chunk per command. Dev dependencies are pruned after; the bundle keeps only
  # better-sqlite3 (the native addon, compiled above) outside, loaded from node_modules.
  npmBuildScript = "build";

  # npm pack (which decides what is installed) falls back to .gitignore, and that ignores
  # dist/ — the bundled program. An .npmignore takes precedence; this one exists only here.
  preInstall = ''
    printf '%s\n' 'test/' '.ci/' 'nix/' 'coverage/' '*.log' 'src/' 'scripts/' > .npmignore
  '';

  postInstall = ''
    # sd_notify goes through systemd-notify (Node has no AF_UNIX datagram sockets); name it
    # explicitly so a minimal unit PATH cannot hide it.
    wrapProgram $out/bin/felhom-agent \
      --set-default FELHOM_SYSTEMD_NOTIFY ${systemd}/bin/systemd-notify
  '';

  passthru = { inherit lockWithUrls; };

  meta = {
    description = "Keeps a Proxmox VE host's guests as a hub wants them, without surprising the operator";
    mainProgram = "felhom-agent";
    platforms = lib.platforms.linux;
  };
}
