; Inno Setup script for Paydesk on Windows: installs the PyInstaller onedir build into
; Program Files with a Start menu entry and an uninstaller. Not built on the Linux CI machine;
; on Windows, packaging/build_installers.py freezes the app and runs:
;   iscc /DAppVersion=<version> /DSourceDir=dist\paydesk /DOutputDir=dist\installers paydesk.iss

#ifndef AppVersion
  #error Pass the version: /DAppVersion=<core.__version__>
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\paydesk"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist\installers"
#endif

[Setup]
AppId={{6F1C2E4A-5B7D-4C1E-9A8F-3D2B1C0E9F7A}
AppName=Paydesk
AppVersion={#AppVersion}
AppPublisher=Paydesk
DefaultDirName={autopf}\Paydesk
DefaultGroupName=Paydesk
DisableProgramGroupPage=yes
OutputDir={#OutputDir}
OutputBaseFilename=Paydesk-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
UninstallDisplayIcon={app}\paydesk.exe
PrivilegesRequiredOverridesAllowed=dialog
WizardStyle=modern

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Paydesk"; Filename: "{app}\paydesk.exe"
Name: "{autodesktop}\Paydesk"; Filename: "{app}\paydesk.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\paydesk.exe"; Description: "Start Paydesk"; Flags: nowait postinstall skipifsilent
