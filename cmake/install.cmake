# What `cmake --install` (and so the Debian package, debian/rules) puts where, with GNU names:
#   sbin/popgate                          the daemon (proxy/CMakeLists.txt)
#   SYSCONFDIR/popgate/popgate.toml       conf/popgate.toml, only if none is there yet
#   MANDIR/man8/popgate.8, man5/popgate.toml.5
#   POPGATE_SYSTEMD_UNIT_DIR/popgate.service   conf/systemd/popgate.service.in with the paths above
#   DOCDIR/examples/                      example configs, the certbot/acme.sh deploy hook, alert
#                                         rules and their test, dashboard
#   DOCDIR/runbooks/                      one page per alert
# The binary reads /etc/popgate/popgate.toml by default: a /usr/local install finds the
# installed example there only with -DCMAKE_INSTALL_SYSCONFDIR=/etc (Debian's build passes it).
include(GNUInstallDirs)

# Install time, not configure time: `cmake --install --prefix P` and DESTDIR both apply.
install(CODE "
  set(_dir \"${CMAKE_INSTALL_SYSCONFDIR}/popgate\")
  if(NOT IS_ABSOLUTE \"\${_dir}\")
    set(_dir \"\${CMAKE_INSTALL_PREFIX}/\${_dir}\")
  endif()
  if(EXISTS \"\$ENV{DESTDIR}\${_dir}/popgate.toml\")
    message(STATUS \"Keeping the existing \$ENV{DESTDIR}\${_dir}/popgate.toml\")
  else()
    # file(INSTALL) adds DESTDIR itself.
    file(INSTALL \"${PROJECT_SOURCE_DIR}/conf/popgate.toml\" DESTINATION \"\${_dir}\")
  endif()
")

install(FILES man/popgate.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES man/popgate.toml.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)

# systemd's own unit directory when installing into /usr (/lib/systemd/system on Debian 12,
# /usr/lib/systemd/system on 13, from systemd.pc); PREFIX/lib/systemd/system otherwise, which
# systemd also searches for /usr/local.
pkg_get_variable(_systemd_unit_dir systemd systemdsystemunitdir)
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR NOT _systemd_unit_dir)
  set(_systemd_unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
set(POPGATE_SYSTEMD_UNIT_DIR "${_systemd_unit_dir}" CACHE PATH "Where popgate.service goes")
configure_file(conf/systemd/popgate.service.in popgate.service @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/popgate.service" DESTINATION "${POPGATE_SYSTEMD_UNIT_DIR}")

install(FILES conf/popgate.toml conf/demo.toml conf/deploy-hook conf/prometheus/prometheus.yml
              conf/prometheus/alerts.yml conf/prometheus/alerts_test.yml
              conf/grafana/popgate-dashboard.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# What each alert means and what to do, as the alerts' runbook_url annotations name them.
install(DIRECTORY docs/runbooks DESTINATION ${CMAKE_INSTALL_DOCDIR})
