# NixOS module: services.felhom-agent — the hardened unit of deploy/felhom-agent.service, the
# config file generated from `settings`, and the secrets passed by systemd's LoadCredential.
# tokenFile/hubTokenFile are strings, never paths: a Nix path would be copied into the
# world-readable store, and with it the PVE token secret.
{ self }:
{ config, lib, pkgs, ... }:

let
  cfg = config.services.felhom-agent;
  yaml = pkgs.formats.yaml { };
  unit = "felhom-agent.service";
  # Where systemd puts LoadCredential= files for this unit ($CREDENTIALS_DIRECTORY).
  credentials = "/run/credentials/${unit}";
  configFile = yaml.generate "felhom-agent.yaml" cfg.settings;
  secretPath = lib.types.addCheck lib.types.str (s: lib.hasPrefix "/" s && !lib.hasPrefix builtins.storeDir s) // {
    description = "absolute path outside the Nix store, as a string";
  };
in
{
  options.services.felhom-agent = {
    enable = lib.mkEnableOption "felhom-agent, which keeps this Proxmox VE host's guests as the hub wants them";

    npmRegistry = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "https://registry.example.org";
      description = ''
        npm registry base URL the default package is built from (the lockfile has no resolved
        URLs; every tarball is still checked against its sha512 integrity). Not needed when
        `package` is set.
      '';
    };

    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.default.override { inherit (cfg) npmRegistry; };
      defaultText = lib.literalExpression "felhom-agent.packages.\${system}.default.override { inherit (cfg) npmRegistry; }";
      description = "The felhom-agent package.";
    };

    tokenFile = lib.mkOption {
      type = secretPath;
      example = "/etc/felhom/pve-token";
      description = ''
        File holding the PVE API token (`USER@REALM!TOKENID=SECRET`), readable by root. Passed
        with LoadCredential as `pve-token`; it never enters the Nix store.
      '';
    };

    hubTokenFile = lib.mkOption {
      type = lib.types.nullOr secretPath;
      default = null;
      example = "/etc/felhom/hub-token";
      description = "File holding the hub's bearer token; passed with LoadCredential as `hub-token`.";
    };

    signersFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/etc/felhom/signers.json";
      description = "Public keys allowed to sign ops and desired documents. Without it every signed op is refused.";
    };

    watchdogSec = lib.mkOption {
      type = lib.types.int;
      default = 60;
      description = "systemd WatchdogSec; the agent pings at half of it while its engine loop is alive. 0 disables.";
    };

    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Extra arguments to `felhom-agent daemon`.";
    };

    settings = lib.mkOption {
      description = ''
        The configuration file (deploy/agent.example.yaml), as attributes. Secrets do not go
        here: the token file keys default to the systemd credential paths.
      '';
      default = { };
      type = lib.types.submodule {
        freeformType = yaml.type;
        options = {
          agentId = lib.mkOption { type = lib.types.str; default = config.networking.hostName; defaultText = "networking.hostName"; description = "This agent's identity towards the hub."; };
          stateDir = lib.mkOption { type = lib.types.str; default = "/var/lib/felhom-agent"; description = "Where state.db lives (created by StateDirectory)."; };
          health.listen = lib.mkOption { type = lib.types.str; default = "127.0.0.1:9105"; description = "Address of /healthz, /readyz and /metrics."; };
          log.format = lib.mkOption { type = lib.types.enum [ "logfmt" "json" ]; default = "logfmt"; description = "Log line format."; };
        };
      };
    };
  };

  config = lib.mkIf cfg.enable {
    services.felhom-agent.settings = {
      pve.tokenFile = lib.mkDefault "${credentials}/pve-token";
      hub = lib.mkIf (cfg.hubTokenFile != null) { tokenFile = lib.mkDefault "${credentials}/hub-token"; };
      signersFile = lib.mkIf (cfg.signersFile != null) (lib.mkDefault cfg.signersFile);
    };

    systemd.services.felhom-agent = {
      description = "felhom-agent: keeps this host's guests as the hub wants them";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      restartTriggers = [ configFile ];
      environment.NODE_ENV = "production";
      # V8 grows its young generation to 16 MiB semi-spaces under the reconcile loop's
      # allocation and keeps them committed. Measured (docs/BENCHMARKS.md, footprint), 2 MiB
      # semi-spaces keep the idle daemon 10-25 MiB smaller at no measurable CPU cost (1 MiB:
      # no smaller, and start-up 30 ms slower).
      environment.NODE_OPTIONS = "--max-semi-space-size=2";
      # Node (22.1 and later) keeps V8's compiled code of the program's modules in the service's
      # own cache directory and reuses it at the next start: daemon spawn → ready 15 % shorter
      # on Node 22 (docs/BENCHMARKS.md, footprint). Node checks each entry against its module's
      # source, so an upgraded package never runs stale code.
      environment.NODE_COMPILE_CACHE = "/var/cache/felhom-agent/node-compile-cache";
      serviceConfig = {
        # systemd-notify sends READY/STATUS/WATCHDOG/STOPPING from its own PID.
        Type = "notify";
        NotifyAccess = "all";
        ExecStart = lib.escapeShellArgs ([ (lib.getExe cfg.package) "daemon" "--config" "${configFile}" ] ++ cfg.extraArgs);
        KillMode = "mixed";
        TimeoutStopSec = 90;
        Restart = "on-failure";
        RestartSec = 5;
        WatchdogSec = cfg.watchdogSec;

        DynamicUser = true;
        StateDirectory = "felhom-agent";
        StateDirectoryMode = "0700";
        CacheDirectory = "felhom-agent";
        CacheDirectoryMode = "0700";
        UMask = "0077";
        LoadCredential = [ "pve-token:${cfg.tokenFile}" ]
          ++ lib.optional (cfg.hubTokenFile != null) "hub-token:${cfg.hubTokenFile}";

        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" ];
        SystemCallErrorNumber = "EPERM";
        # Never MemoryDenyWriteExecute: V8's JIT needs writable+executable pages; Node aborts.
        MemoryDenyWriteExecute = false;
      };
    };
  };
}
