; The per-user installer of bbclient.exe, built by `cargo xtask package`
; with Debian's nsis (makensis). No administrator rights: it installs into
; %LOCALAPPDATA%\Programs\BlueBean, registers the URI handlers under
; HKCU\Software\Classes (by running `bbclient.exe install-handlers`, the
; same code as the command line), adds a Start-menu entry and an entry in
; Apps & features, and its uninstaller removes all of it.
;
; makensis -DVERSION=0.1.0 -DSTAGE=DIR -DOUTFILE=FILE bbclient.nsi

; 64-bit stubs: bbclient.exe is x86_64, and so is the installer.
Target amd64-unicode
RequestExecutionLevel user
SetCompressor /SOLID lzma

!ifndef VERSION
  !error "pass -DVERSION=x.y.z"
!endif
!ifndef STAGE
  !error "pass -DSTAGE=DIR (bbclient.exe, README.txt, bbclient.example.toml)"
!endif
!ifndef OUTFILE
  !define OUTFILE "bbclient-${VERSION}-setup.exe"
!endif

!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\BlueBean.bbclient"

Name "BlueBean softphone ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\BlueBean"
ShowInstDetails show
ShowUninstDetails show

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Section "bbclient"
  SetOutPath "$INSTDIR"
  File "${STAGE}\bbclient.exe"
  File "${STAGE}\README.txt"
  File "${STAGE}\bbclient.example.toml"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  ; The URI handlers, per user.
  ExecWait '"$INSTDIR\bbclient.exe" install-handlers' $0
  StrCmp $0 "0" +2
    DetailPrint "bbclient.exe install-handlers failed (exit code $0)"

  CreateDirectory "$SMPROGRAMS\BlueBean"
  CreateShortcut "$SMPROGRAMS\BlueBean\BlueBean softphone.lnk" "$INSTDIR\bbclient.exe" "run"

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "BlueBean softphone"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "BlueBean client project"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\bbclient.exe,0"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  ExecWait '"$INSTDIR\bbclient.exe" install-handlers --uninstall'
  Delete "$SMPROGRAMS\BlueBean\BlueBean softphone.lnk"
  RMDir "$SMPROGRAMS\BlueBean"
  Delete "$INSTDIR\bbclient.exe"
  Delete "$INSTDIR\README.txt"
  Delete "$INSTDIR\bbclient.example.toml"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  ; Settings (%APPDATA%\BlueBean) and the call history
  ; (%LOCALAPPDATA%\BlueBean) are the operator's and stay.
SectionEnd
