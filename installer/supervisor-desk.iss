; Inno Setup 6 script for Supervisor Desk on Windows: per-user install (no admin rights),
; Start-menu entry, optional desktop icon, optional start at sign-in (HKCU Run).
; NOT BUILT OR VERIFIED in this repository's CI (Linux only). Build on Windows with
; installer\windows\build.ps1, which runs PyInstaller first and passes the version from
; pyproject.toml:  iscc /DAppVersion=0.1.0 installer\supervisor-desk.iss

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z installer\supervisor-desk.iss
#endif
#define AppName "Supervisor Desk"
#define AppExe "supervisor-desk.exe"

[Setup]
AppId={{6B0D8E52-3C4A-4D0F-9C7E-5A1F2B9D4E31}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Supervisor Desk developers
DefaultDirName={localappdata}\Programs\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\dist
OutputBaseFilename=SupervisorDesk-{#AppVersion}-windows-x64-setup
SetupIconFile=..\build\icons\supervisor-desk.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; Upgrades: same AppId, so a newer setup replaces the files in place; close the running app.
CloseApplications=yes
RestartApplications=no

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "autostart"; Description: "Start {#AppName} when I sign in to Windows"; GroupDescription: "Start-up:"; Flags: unchecked

[Files]
; The PyInstaller one-folder bundle (dist\supervisor-desk\ with supervisor-desk.exe and _internal\).
Source: "..\dist\supervisor-desk\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade must not keep modules from the previous version next to the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autoprograms}\{#AppName} (demo)"; Filename: "{app}\{#AppExe}"; Parameters: "--demo"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "{#AppName}"; ValueData: """{app}\{#AppExe}"""; Flags: uninsdeletevalue; Tasks: autostart

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; Settings and logs (%LOCALAPPDATA%\supervisor-desk\...) and keyring entries (Windows
; Credential Manager) are the user's data: the uninstaller leaves them (see docs/install.md).
