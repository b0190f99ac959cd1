{
  description = "felhom-agent: keeps a Proxmox VE host's guests as a hub wants them";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # Only what the build reads, so editing tests or docs does not rebuild the package.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [
          ./package.json
          ./package-lock.json
          ./tsconfig.json
          ./scripts/build.mjs
          ./bin
          ./src
        ];
      };

      # The npm registry base URL is the deployer's to supply (see nix/package.nix):
      #   packages.${system}.default.override { npmRegistry = "https://…"; }
      # or FELHOM_NPM_REGISTRY=https://… with --impure.
      mkPackage = pkgs: pkgs.callPackage ./nix/package.nix { inherit src; };
    in
    {
      packages = forAllSystems (pkgs: rec {
        felhom-agent = mkPackage pkgs;
        default = felhom-agent;
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          # node-gyp builds the SQLite addon: python3 + a C++ toolchain (from mkShell's stdenv).
          packages = [ pkgs.nodejs_22 pkgs.python3 pkgs.pkg-config pkgs.systemd pkgs.nix ];
        };
      });

      overlays.default = final: _prev: { felhom-agent = mkPackage final; };

      nixosModules.default = import ./nix/module.nix { inherit self; };
      nixosModules.felhom-agent = self.nixosModules.default;

      checks = forAllSystems (pkgs: {
        vm = import ./nix/vm-test.nix {
          inherit pkgs;
          module = self.nixosModules.default;
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
      });
    };
}
