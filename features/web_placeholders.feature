# WEB-1..WEB-3 beyond the guide's own example: every placeholder, URLs that
# already hold a query, international numbers, encoding, refused lines.
@WEB-1 @WEB-2 @WEB-3
Feature: Popup request parameters
  The popup request carries the call's values in place of the six
  placeholders, percent-encoded, appended to the URL's query for GET or as a
  form body for POST.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: all six placeholders in a GET popup request
    Given a softphone for extension 1910 with the settings
      """
      [operator]
      login_id = "op-7"
      password = "pw 7&x"

      [web.popup]
      method = "GET"
      url = "{crm}/softphone/popup/in?"
      params = '''
      number=%CallerNumber%
      exten=%Exten%
      outline=%OutLineNumber%
      callid=%CallId%
      opid=%OpId%
      oppw=%OpPW%
      '''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives exactly this request for the call
      """
      GET /softphone/popup/in?number=09012345678&exten=1910&outline=0312345678&callid={call_id}&opid=op-7&oppw=pw%207%26x
      """

  Scenario: all six placeholders in a POST popup request
    Given a softphone for extension 1910 with the settings
      """
      [operator]
      login_id = "op-7"
      password = "pw 7&x"

      [web.popup]
      method = "POST"
      url = "{crm}/softphone/popup/in"
      params = '''
      number=%CallerNumber%
      exten=%Exten%
      outline=%OutLineNumber%
      callid=%CallId%
      opid=%OpId%
      oppw=%OpPW%
      '''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives exactly this request for the call
      """
      POST /softphone/popup/in
      Content-Type: application/x-www-form-urlencoded

      number=09012345678&exten=1910&outline=0312345678&callid={call_id}&opid=op-7&oppw=pw%207%26x
      """

  Scenario: a placeholder inside a longer value and in a parameter name
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/p"
      params = '''
      ref=tel:%CallerNumber%/line-%OutLineNumber%
      x_%Exten%=1
      '''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the CRM receives exactly this request for the call
      """
      GET /p?ref=tel%3A09012345678%2Fline-0312345678&x_1910=1
      """

  Scenario: the URL already holds a query
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      method = "GET"
      url = "{crm}/crm/popup?tenant=7&lang=ja"
      params = '''
      number=%CallerNumber%
      '''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the CRM receives exactly this request for the call
      """
      GET /crm/popup?tenant=7&lang=ja&number=09012345678
      """

  Scenario: the URL's query already ends with '&'
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/crm/popup?tenant=7&"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      '''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the CRM receives exactly this request for the call
      """
      GET /crm/popup?tenant=7&number=09012345678&outline=0312345678
      """

  Scenario: POST to a URL written for GET drops the empty query
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      method = "POST"
      url = "{crm}/softphone/popup/in?"
      params = '''
      number=%CallerNumber%
      '''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the CRM receives exactly this request for the call
      """
      POST /softphone/popup/in
      Content-Type: application/x-www-form-urlencoded

      number=09012345678
      """

  Scenario: a +81 caller number arrives intact
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = '''
      number=%CallerNumber%
      '''
      """
    When an outside caller +81312345678 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives exactly this request for the call
      """
      GET /popup?number=%2B81312345678
      """
    And the CRM receives one well-formed request whose parameters are exactly "number", with the caller ID, without its surrounding blanks, as "number"

  Scenario: names and values written in Japanese and with spaces are percent-encoded as UTF-8
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = '''
      担当=山田 太郎
      memo=a+b c&d=e

      number=%CallerNumber%
      '''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the CRM receives exactly this request for the call
      """
      GET /popup?%E6%8B%85%E5%BD%93=%E5%B1%B1%E7%94%B0%20%E5%A4%AA%E9%83%8E&memo=a%2Bb%20c%26d%3De&number=09012345678
      """

  Scenario: a parameter line without '=' is refused when the settings are loaded
    When the softphone for extension 1910 is started with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = '''
      number=%CallerNumber%
      campaignid 1234
      '''
      """
    Then it exits with status 2 and one line on stderr naming "'campaignid 1234' has no '='"

  Scenario: a popup URL that is not absolute is refused when the settings are loaded
    When the softphone for extension 1910 is started with the settings
      """
      [web.popup]
      url = "crm.test.com/softphone/popup/in?"
      params = "number=%CallerNumber%"
      """
    Then it exits with status 2 and one line on stderr naming "web.popup"

  Scenario: the guide's example sent with GET, as a snapshot
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      method = "GET"
      url = "{crm}/softphone/popup/in?"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      campaignid=1234
      user_name=test_user
      user_password=test_pass
      '''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the CRM's request matches the snapshot "guide_example_get"

  Scenario: the guide's example sent with POST, as a snapshot
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      method = "POST"
      url = "{crm}/softphone/popup/in?"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      campaignid=1234
      user_name=test_user
      user_password=test_pass
      '''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the CRM's request matches the snapshot "guide_example_post"
