# VM test: the simulator (`felhom-agent sim`) as one unit, the agent from the NixOS module as
# another; the agent must come up (Type=notify: `systemctl start` returns after READY=1), answer
# /healthz and /readyz, serve Prometheus text on /metrics, and stop cleanly (STOPPING=1, exit 0).
{ pkgs, module, package }:

pkgs.testers.runNixOSTest {
  name = "felhom-agent";

  nodes.machine = { lib, pkgs, ... }: {
    imports = [ module ];
    environment.systemPackages = [ pkgs.curl ];

    systemd.services.felhom-sim = {
      description = "PVE API simulator for the felhom-agent VM test";
      wantedBy = [ "multi-user.target" ];
      serviceConfig = {
        # Plain http is accepted for loopback only (the simulator); the token file is 0600.
        ExecStart = "${lib.getExe package} sim --http --host 127.0.0.1 --port 8006 --control-port 8007 --dir /var/lib/felhom-sim";
        StateDirectory = "felhom-sim";
      };
    };

    services.felhom-agent = {
      enable = true;
      inherit package;
      tokenFile = "/var/lib/felhom-sim/token";
      settings = {
        agentId = "vm-test";
        pve.url = "http://127.0.0.1:8006";
        reconcile.interval = "5s";
      };
    };
    # Started by the test script once the simulator wrote its token.
    systemd.services.felhom-agent.wantedBy = lib.mkForce [ ];
  };

  testScript = ''
    machine.wait_for_unit("felhom-sim.service")
    machine.wait_for_file("/var/lib/felhom-sim/token")
    machine.wait_for_open_port(8006)

    # Type=notify: this returns only after READY=1, i.e. after journal recovery.
    machine.succeed("systemctl start felhom-agent.service")
    machine.wait_for_unit("felhom-agent.service")
    machine.wait_for_open_port(9105)

    machine.succeed("curl -sf http://127.0.0.1:9105/healthz")
    ready = machine.succeed("curl -s -o /dev/stderr -w '%{http_code}' http://127.0.0.1:9105/readyz")
    assert ready == "200", f"/readyz answered {ready}"

    metrics = machine.succeed("curl -sf http://127.0.0.1:9105/metrics")
    assert "# TYPE felhom_ready gauge" in metrics, metrics
    assert "\nfelhom_ready 1\n" in metrics, metrics
    for line in metrics.splitlines():
        assert line.startswith("#") or line.startswith("felhom_"), f"unexpected line: {line}"

    status = machine.succeed("systemctl show -P StatusText felhom-agent.service")
    assert status.startswith("ready"), status

    # The secret never reaches the journal.
    secret = machine.succeed("cut -d= -f2- /var/lib/felhom-sim/token").strip()
    machine.fail(f"journalctl -u felhom-agent.service | grep -F -- '{secret}'")

    machine.succeed("systemctl stop felhom-agent.service")
    result = machine.succeed("systemctl show -P Result felhom-agent.service").strip()
    assert result == "success", result
    # The shutdown's last log lines made it to the journal (stdio drained before exit).
    machine.succeed("journalctl -u felhom-agent.service -o cat | grep -i stop")
  '';
}
